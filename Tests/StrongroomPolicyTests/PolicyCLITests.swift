import Foundation
import StrongroomTestSupport
import Testing

/// Runs the built `strongroom` executable, when the build made one; without it, under CI, an issue
/// is recorded (the suite must not pass by running nothing).
func strongroom(_ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String, String) {
    guard let executable = TestSupport.executable else {
        Issue.record("the strongroom executable was not built: the policy CLI suite cannot run")
        throw CocoaError(.fileNoSuchFile)
    }
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let stdout = Pipe()
    let stderr = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()
    let out = stdout.fileHandleForReading.readDataToEndOfFile()
    let err = stderr.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
}

// Skipped without the executable only outside CI: under CI=true every test records an issue instead.
@Suite("strongroom policy CLI", .serialized, .enabled(if: TestSupport.executable != nil || TestSupport.isCI))
struct PolicyCLITests {
    let policyPath = TestSupport.packageRoot.appendingPathComponent("examples/policy.json").path

    @Test("check and test pass on the examples; a bad file fails with pointers")
    func checkAndTest() throws {
        let (checkStatus, checkOut, _) = try strongroom(["policy", "check", policyPath])
        #expect(checkStatus == 0 && checkOut.contains("0 warning(s)"))
        let (testStatus, testOut, _) = try strongroom(["policy", "test", policyPath])
        #expect(testStatus == 0 && testOut.contains("PASS: 32/32"))

        let dir = TestSupport.scratchDirectory("policy-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("bad.json")
        try Data(
            #"{"version": "v", "rules": [{"id": "r", "effect": "allow", "principals": ["*"], "actions": ["Read"], "resource": {"type": "topic", "name": "t"}}]}"#
                .utf8
        ).write(to: bad)
        let (badStatus, _, badErr) = try strongroom(["policy", "check", bad.path])
        #expect(badStatus != 0 && badErr.contains("/rules/0/actions/0") && badErr.contains("\"Read\""))

        let failing = dir.appendingPathComponent("failing.tests.json")
        try Data(
            #"{"tests": [{"name": "analytics decrypts", "principal": "analytics", "action": "Decrypt", "resource": "field:loan_applications/ssn", "purpose": "credit-check", "expect": "allow"}]}"#
                .utf8
        ).write(to: failing)
        let (failStatus, failOut, _) = try strongroom(["policy", "test", policyPath, "--tests", failing.path])
        #expect(failStatus != 0 && failOut.contains("FAIL: analytics decrypts"))
    }

    @Test("grant issues a token that explain honours once it trusts the data directory's issuer")
    func grantAndExplain() throws {
        let dir = TestSupport.scratchDirectory("policy-grant")
        defer { try? FileManager.default.removeItem(at: dir) }
        let env = ["STRONGROOM_DATA": dir.path]
        let request = [
            "--principal", "fraud-service", "--action", "Decrypt", "--resource", "field:loan_applications/email",
            "--purpose", "incident-4711",
        ]
        let (status, token, _) = try strongroom(
            ["policy", "grant", "--policy", policyPath, "--ttl", "15m"] + request,
            environment: env
        )
        #expect(status == 0 && token.hasPrefix("srg1."))
        let trimmed = token.trimmingCharacters(in: .whitespacesAndNewlines)
        let (_, allowed, _) = try strongroom(
            ["policy", "explain", "--policy", policyPath, "--json", "--token", trimmed] + request,
            environment: env
        )
        #expect(allowed.contains(#""decision":"allow""#))
        let (_, denied, _) = try strongroom(["policy", "explain", "--policy", policyPath, "--json"] + request)
        #expect(denied.contains(#""decision":"deny""#))
    }

    @Test("policy test with zero cases fails")
    func noCases() throws {
        let dir = TestSupport.scratchDirectory("policy-empty")
        defer { try? FileManager.default.removeItem(at: dir) }
        let empty = dir.appendingPathComponent("empty.tests.json")
        try Data(#"{"tests": []}"#.utf8).write(to: empty)
        let (status, out, err) = try strongroom(["policy", "test", policyPath, "--tests", empty.path])
        #expect(status != 0)
        #expect((out + err).contains("no test cases"))
        #expect(!out.contains("PASS: 0/0"))
    }

    @Test("explain at an extreme --time does not crash")
    func extremeTime() throws {
        for time in ["9223372036854775807", "-9223372036854775808"] {
            let (status, out, err) = try strongroom([
                "policy", "explain", "--policy", policyPath, "--principal", "dana", "--action", "Erase",
                "--resource", "key:CUST-00000001", "--source-address", "10.30.1.2", "--time=\(time)",
            ])
            #expect(status == 0, "\(err)")
            #expect(out.contains("decision: ") && out.contains("policy version: 2026-11-24.1"))
        }
    }
}
