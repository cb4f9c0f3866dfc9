import Foundation
import StrongroomTestSupport
import Testing

/// The README's quick start, run as written: each command of its first code block, in order,
/// in a fresh directory, must exit 0 and print what its comment promises.
@Suite("README quick start", .serialized)
struct ReadmeTests {
    /// The quick start's commands: continuation lines joined, comments and blank lines dropped.
    static func commands() throws -> [String] {
        let readme = try String(
            contentsOf: TestSupport.packageRoot.appendingPathComponent("README.md"),
            encoding: .utf8
        )
        guard let section = readme.range(of: "## Quick start") else { return [] }
        let rest = readme[section.upperBound...]
        guard let open = rest.range(of: "```\n"), let close = rest[open.upperBound...].range(of: "\n```") else {
            return []
        }
        var commands: [String] = []
        var pending = ""
        for line in rest[open.upperBound..<close.lowerBound].split(separator: "\n", omittingEmptySubsequences: false) {
            let text = String(line)
            if pending.isEmpty && (text.trimmingCharacters(in: .whitespaces).isEmpty || text.hasPrefix("#")) {
                continue
            }
            if text.hasSuffix("\\") {
                pending += text.dropLast() + " "
            } else {
                commands.append(pending + text)
                pending = ""
            }
        }
        return commands
    }

    /// What the output of a command must contain, by the command's first words.
    static let promises: [(prefix: String, contains: [String])] = [
        ("strongroom init", ["bfb"]),
        ("strongroom encrypt", []),
        ("strongroom produce", [#""offset":"#]),
        ("strongroom consume --topic loan_applications --principal fraud-service", [#""ssn":"123-"#]),
        ("strongroom consume --topic loan_applications --principal analytics", [#""ssn":"***-**-"#]),
        ("strongroom dlq list", ["No dead letters"]),
        ("strongroom dsr access", [#""count""#]),
        ("strongroom keys erase", ["Erased"]),
        ("strongroom keys finalize", ["Finalized 1 erasure"]),
        ("strongroom audit verify", ["OK"]),
        ("strongroom policy explain", ["ALLOW"]),
        ("strongroom log read", ["sr1:"]),
        ("strongroom demo", ["Summary"]),
    ]

    @Test("every quick-start command works as written, in order, and says what its comment promises")
    func quickStart() throws {
        guard let executable = TestSupport.executable else {
            Issue.record("the strongroom executable was not built")
            return
        }
        let commands = try Self.commands()
        #expect(commands.count > 25, "the quick start lost its commands")
        let directory = TestSupport.scratchDirectory("readme")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            at: directory.appendingPathComponent("examples"),
            withDestinationURL: TestSupport.packageRoot.appendingPathComponent("examples")
        )
        // The test builds the binary itself: the README's `swift build` is the one line not run, and
        // the built binary's folder comes first on PATH.
        let path =
            executable.deletingLastPathComponent().path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "")
        var exports: [String] = []
        var erased = false
        for command in commands {
            if command.hasPrefix("swift build") { continue }
            if command.hasPrefix("export ") {
                exports.append(command)
                continue
            }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = ["-c", (exports + [command]).joined(separator: "\n")]
            process.currentDirectoryURL = directory
            var environment = ProcessInfo.processInfo.environment
            environment["PATH"] = path
            environment["STRONGROOM_DATA"] = nil
            process.environment = environment
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(
                process.terminationStatus == 0,
                "`\(command)` exited \(process.terminationStatus): \(text.suffix(600))"
            )
            for (prefix, needles) in Self.promises where command.hasPrefix(prefix) {
                for needle in needles {
                    #expect(text.contains(needle), "`\(command)` should print \(needle): \(text.prefix(600))")
                }
            }
            if command.hasPrefix("strongroom keys erase") { erased = true }
            if erased && command.hasPrefix("strongroom decrypt") {
                #expect(text.contains(#""customerId":{"$erased":true}"#), "`\(command)`")
            }
        }
    }
}

/// A README section's code block, run as one bash script in a fresh folder.
enum ReadmeScript {
    /// The first code block after `heading`, line by line.
    static func lines(_ heading: String) throws -> [String] {
        let readme = try String(
            contentsOf: TestSupport.packageRoot.appendingPathComponent("README.md"),
            encoding: .utf8
        )
        let section = try #require(readme.range(of: heading))
        let rest = readme[section.upperBound...]
        let open = try #require(rest.range(of: "```\n"))
        let close = try #require(rest[open.upperBound...].range(of: "\n```"))
        return rest[open.upperBound..<close.lowerBound].split(separator: "\n").map(String.init)
    }

    /// Runs `lines` with `set -euo pipefail` and the built `strongroom` first on PATH, in a new
    /// folder holding links to the checkout's `examples` and `scripts`; its exit status and output.
    static func run(
        _ lines: [String],
        label: String,
        prologue: [String] = [],
        unset: [String] = []
    ) throws -> (status: Int32, output: String) {
        let executable = try #require(TestSupport.executable, "the strongroom executable was not built")
        let directory = TestSupport.scratchDirectory(label)
        for folder in ["examples", "scripts"] {
            try FileManager.default.createSymbolicLink(
                at: directory.appendingPathComponent(folder),
                withDestinationURL: TestSupport.packageRoot.appendingPathComponent(folder)
            )
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", (["set -euo pipefail"] + prologue + lines).joined(separator: "\n")]
        process.currentDirectoryURL = directory
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = executable.deletingLastPathComponent().path + ":" + (environment["PATH"] ?? "")
        for name in ["STRONGROOM_DATA"] + unset { environment[name] = nil }
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }
}

#if Kafka
@Suite("README: Run it on Kafka")
struct ReadmeKafkaTests {
    @Test("the Kafka walk-through works as written, as one script")
    func walkThrough() throws {
        // Installing and building are the test run's own (scripts/test); everything else runs.
        let lines = try ReadmeScript.lines("## Run it on Kafka")
            .filter { !$0.hasPrefix("apt-get ") && !$0.hasPrefix("swift build") }
        #expect(lines.count > 10, "the section lost its commands")
        #expect(lines.contains { $0.hasPrefix("kill %1") }, "the script stops its cluster")
        let (status, text) = try ReadmeScript.run(
            lines,
            label: "readme-kafka",
            prologue: ["trap 'kill %1 2>/dev/null || true' EXIT"]
        )
        #expect(status == 0, "\(text.suffix(1500))")
        #expect(text.contains(#""offset":"#), "produce printed positions")
        #expect(text.contains(#""ssn":"123-"#), "fraud-service read the SSN")
        #expect(text.contains(#""payload":"{\"applicationId"#) && text.contains("sr1:"), "kcat read ciphertext")
        #expect(text.contains(#""records": 4"#), "confluent-kafka read every record")
        #expect(text.contains("WARNING: PLAINTEXT"), "plaintext is announced")
    }
}
#endif

#if PKCS11
@Suite("README: Keys in an HSM", .enabled(if: SoftHSM.isInstalled || TestSupport.isCI))
struct ReadmeHSMTests {
    @Test("the HSM walk-through works as written, as one script: the demo runs with its KEKs in SoftHSM2")
    func walkThrough() throws {
        let lines = try ReadmeScript.lines("## Keys in an HSM").filter { !$0.hasPrefix("apt-get ") }
        #expect(lines.contains { $0.contains("strongroom demo") && $0.contains("--kek 'pkcs11:") })
        let (status, text) = try ReadmeScript.run(
            lines,
            label: "readme-hsm",
            unset: ["STRONGROOM_PKCS11_PIN", "SOFTHSM2_CONF"]
        )
        #expect(status == 0, "\(text.suffix(1500))")
        #expect(text.contains("Summary"))
        #expect(text.contains("pkcs11:token=strongroom;object=demo"), "the summary names the HSM")
        #expect(!text.contains("4321"), "the PIN is never printed")
    }
}
#endif

#if Gateway
@Suite("README: Run the gateway")
struct ReadmeGatewayTests {
    @Test("the gateway walk-through works as written, as one script: mTLS, decrypted reads, refusals, SIGTERM")
    func walkThrough() throws {
        let lines = try ReadmeScript.lines("## Run the gateway")
            .filter { !$0.hasPrefix("swift build") && !$0.hasPrefix("export PATH") }
        #expect(lines.contains { $0.hasPrefix("kill %1 && wait %1") }, "the script stops the gateway")
        let (status, text) = try ReadmeScript.run(
            lines,
            label: "readme-gateway",
            prologue: ["trap 'kill %1 2>/dev/null || true' EXIT"]
        )
        #expect(status == 0, "\(text.suffix(1500))")
        #expect(text.contains(#""ssn":"123-45-6789""#), "fraud-service read the SSN through the gateway")
        #expect(text.contains(#""status":403"#) && text.contains("urn:strongroom:problem:"), "the produce was refused")
        #expect(text.contains("refused in the TLS handshake"), "no certificate, no connection")
    }
}
#endif
