import ArgumentParser
import Foundation
import StrongroomKeys

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a data directory: a keyring (mode 0600) and an empty key store.",
        discussion: "Refuses to overwrite an existing keyring: losing it loses every key."
    )

    @OptionGroup var data: DataDirectoryOptions

    func run() throws {
        do {
            let store = try KeyStore.initialize(dataDirectory: data.url)
            print("Initialized \(data.url.path)")
            print("  keyring:   \(data.url.appendingPathComponent(KeyStore.keyringFileName).path) (mode 0600)")
            print("  key store: \(store.databaseURL.path)")
        } catch {
            throw CLIError("strongroom init: \(error)")
        }
    }
}
