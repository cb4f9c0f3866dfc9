import ArgumentParser
import Foundation
import StrongroomGateway
import Synchronization

#if Gateway
import ServiceLifecycle
#endif

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTPS gateway: produce and consume over HTTP for services in any language.",
        discussion: """
            Reads a JSON or YAML (.yaml, .yml) configuration (docs/gateway.md lists every key): the listener, TLS 1.3 with a client \
            certificate (mtls) or OIDC bearer tokens (oidc), the tenants with their data directories and \
            policies, and the limits. Runs until SIGTERM or Ctrl-C; requests in flight finish first.

              strongroom dev pki --out pki --client svc-ledger
              strongroom serve --config gateway.json
            """
    )

    @Option(help: "The gateway configuration file: JSON, or YAML when it ends in .yaml or .yml.")
    var config: String

    func run() throws {
        #if Gateway
        let configuration: GatewayConfiguration
        do { configuration = try GatewayConfiguration(contentsOf: URL(fileURLWithPath: config)) } catch {
            throw CLIError("\(config): \(error)")
        }
        let gateway: Gateway
        do { gateway = try runAsync { try await Gateway.open(configuration) } } catch { throw CLIError("\(error)") }
        let several = configuration.listeners.count > 1
        let applications = try gateway.applications { listener, address in
            // One line per listener, unbuffered; with several, each names its authentication.
            writeOut(Array("listening on \(address)\(several ? " \(listener.authentication.rawValue)" : "")\n".utf8))
        }
        try runUntilSignal(applications, label: "strongroom.serve")
        #else
        _ = config
        throw CLIError(
            "this strongroom was built without the gateway: build with `swift build --traits default,Gateway`"
        )
        #endif
    }
}

extension DevCommand {
    struct PKI: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pki",
            abstract: "Write a test CA, a server certificate for localhost and client certificates.",
            discussion: """
                Development only: every key is a file in --out (mode 0600). Client certificates are \
                CN=NAME,OU=payments,O=Acme Bank, which the rule RULE:^CN=([a-zA-Z0-9._-]+),.*$/$1/ maps to NAME.

                  strongroom dev pki --out pki --client svc-ledger --client svc-fraud
                """
        )

        @Option(help: "The folder to write (refused when a file would be overwritten).")
        var out: String
        @Option(help: "A client certificate's common name (repeatable).")
        var client: [String] = []

        func run() throws {
            #if Gateway
            do {
                let files = try DevCredentials.writePKI(
                    to: URL(fileURLWithPath: out, isDirectory: true),
                    clients: client
                )
                print("Wrote \(files.joined(separator: ", ")) to \(out)")
            } catch { throw CLIError("\(error)") }
            #else
            _ = (out, client)
            throw CLIError(
                "this strongroom was built without the gateway: build with `swift build --traits default,Gateway`"
            )
            #endif
        }
    }

    struct Token: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "token",
            abstract: "Mint a JWT from a local test issuer; its JWKS is written beside its key.",
            discussion: """
                Development only. The issuer's ES256 key is made in --issuer-dir on first use (issuer.key, 0600), \
                with jwks.json for the gateway's oidc.jwks.

                  strongroom dev token --issuer-dir issuer --subject svc-ledger --tenant bfb --role producer
                """
        )

        @Option(help: "The issuer's folder (its key and jwks.json).")
        var issuerDir: String
        @Option(help: "The principal (sub).")
        var subject: String
        @Option(help: "The tenant claim.")
        var tenant: String
        @Option(name: .customLong("role"), help: "A role (repeatable).")
        var roles: [String] = []
        @Option(help: "The issuer (iss).")
        var issuer = "https://issuer.strongroom.test"
        @Option(help: "The audience (aud).")
        var audience = "strongroom"
        @Option(help: "Seconds until it expires.")
        var lifetime = 3_600

        func run() throws {
            #if Gateway
            let (folder, subject, tenant, roles, issuer, audience, lifetime) = (
                issuerDir, subject, tenant, roles, issuer, audience, lifetime
            )
            do {
                print(
                    try runAsync {
                        try await DevCredentials.TokenIssuer(folder: URL(fileURLWithPath: folder, isDirectory: true))
                            .token(
                                subject: subject,
                                tenant: tenant,
                                roles: roles,
                                issuer: issuer,
                                audience: audience,
                                lifetime: TimeInterval(lifetime)
                            )
                    }
                )
            } catch { throw CLIError("\(error)") }
            #else
            _ = (issuerDir, subject, tenant, roles, issuer, audience, lifetime)
            throw CLIError(
                "this strongroom was built without the gateway: build with `swift build --traits default,Gateway`"
            )
            #endif
        }
    }
}

/// Runs `body` to completion from a synchronous command; its result, or its error.
func runAsync<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let outcome = Mutex<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        do {
            let value = try await body()
            outcome.withLock { $0 = .success(value) }
        } catch {
            outcome.withLock { $0 = .failure(error) }
        }
        done.signal()
    }
    done.wait()
    guard let result = outcome.withLock({ $0 }) else { throw CLIError("no result") }
    return try result.get()
}
