import ArgumentParser
import Crypto
import Foundation
import StrongroomCrypto
import StrongroomJSON
import StrongroomPolicy

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Policy as code: check, explain and test authorization policies; issue break-glass grants.",
        discussion: """
            Resources are written TYPE:NAME:
              cluster              the cluster itself: cluster
              topic:NAME           a topic: topic:loan_applications
              group:NAME           a consumer group: group:fraud-scoring
              subject:NAME         a schema subject: subject:loan_applications-value
              key:NAME             a key family: key:loan_applications
              field:TOPIC/POINTER  a field of a topic's events: field:loan_applications/ssn
            Actions: Produce, Consume, Describe, Decrypt, Alter, Erase, Admin.
            Format and evaluation order: docs/policy.md.
            """,
        subcommands: [Check.self, Explain.self, Test.self, Grant.self, Issuer.self, PinProducer.self]
    )

    struct Output: ParsableArguments {
        @Flag(help: "Print JSON instead of text.")
        var json = false
    }

    static func load(_ path: String) throws -> Policy {
        do {
            return try Policy(contentsOf: URL(fileURLWithPath: path))
        } catch {
            if error.issues.isEmpty {
                printError("\(path): \(error)")
            } else {
                for issue in error.issues { printError("\(path): \(issue)") }
            }
            throw CLIError("\(path): policy refused (\(max(error.issues.count, 1)) error(s))")
        }
    }

    static func emit<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    static func action(_ name: String) throws -> Action {
        guard let action = Action(name: name) else {
            throw ValidationError(
                "unknown action \"\(name)\" (expected one of: \(Action.allCases.map(\.rawValue).joined(separator: ", ")))"
            )
        }
        return action
    }

    static func resource(_ text: String) throws -> Resource {
        do { return try Resource(parsing: text) } catch { throw ValidationError("\(error)") }
    }

    static func issuerURL(_ data: DataDirectoryOptions) -> URL { data.url.appendingPathComponent("governance.key") }

    struct IssueLine: Encodable {
        var severity: String
        var kind: String
        var code: String?
        var pointer: String
        var rule: String?
        var message: String

        init(_ issue: PolicyIssue) {
            severity = issue.severity.rawValue
            kind = issue.kind.rawValue
            code = issue.code?.description
            pointer = issue.pointer
            rule = issue.ruleID
            message = issue.message
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a policy file: errors refuse it (exit 1), warnings are printed (exit 0).",
            discussion: """
                Errors: bad JSON, missing version, unknown action, resource type or field, bad CIDR or time \
                window, duplicate rule id, a principal holding an undeclared role.
                Warnings: unreachable rules (shadowed by a deny, or naming nobody), allow/deny conflicts, \
                Decrypt allowed without purposes.

                  strongroom policy check examples/policy.json
                """
        )
        @Argument(help: "The policy file (JSON).")
        var file: String
        @OptionGroup var output: Output

        struct Report: Encodable {
            var version: String
            var rules: Int
            var principals: Int
            var roles: Int
            var warnings: [IssueLine]
        }

        func run() throws {
            let policy = try PolicyCommand.load(file)
            if output.json {
                try PolicyCommand.emit(
                    Report(
                        version: policy.version,
                        rules: policy.rules.count,
                        principals: policy.principals.count,
                        roles: policy.roles.count,
                        warnings: policy.warnings.map(IssueLine.init)
                    )
                )
                return
            }
            let warnings = policy.warnings
            for warning in warnings { print("\(file): \(warning)") }
            print(
                "\(file): OK, version \(policy.version): \(policy.rules.count) rules, \(policy.principals.count) "
                    + "principals, \(policy.roles.count) roles, \(warnings.count) warning(s)"
            )
        }
    }

    struct RequestOptions: ParsableArguments {
        @Option(help: "The principal's id (its declared roles and attributes are used).")
        var principal: String
        @Option(help: "Produce, Consume, Describe, Decrypt, Alter, Erase or Admin.")
        var action: String
        @Option(help: "cluster, topic:NAME, group:NAME, subject:NAME, key:NAME or field:TOPIC/POINTER.")
        var resource: String
        @Option(help: "The purpose stated (e.g. credit-check).")
        var purpose: String?
        @Option(help: "The client's IPv4 or IPv6 address.")
        var sourceAddress: String?
        @Option(help: "The tenant the request acts in.")
        var tenant: String?
        @Option(help: "The data classification (from schema tags).")
        var classification: String?
        @Option(help: "The request time: Unix seconds or RFC 3339 (default: now).")
        var time: String?

        func context(token: String?) throws -> AuthorizationContext {
            var context = AuthorizationContext(
                purpose: purpose,
                tenant: tenant,
                classification: classification,
                token: token
            )
            if let sourceAddress {
                guard let address = IPAddress(sourceAddress) else {
                    throw ValidationError("--source-address: not an IPv4 or IPv6 address")
                }
                context.sourceAddress = address
            }
            if let time {
                if let seconds = Int64(time) {
                    context.time = Date(timeIntervalSince1970: TimeInterval(seconds))
                } else if let date = ISO8601DateFormatter().date(from: time) {
                    context.time = date
                } else {
                    throw ValidationError("--time: Unix seconds or RFC 3339 (2026-11-24T09:30:00Z)")
                }
            }
            return context
        }
    }

    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decide one request and show which rules matched and why.",
            discussion: """
                  strongroom policy explain --policy examples/policy.json \\
                      --principal fraud-service --action Decrypt \\
                      --resource field:loan_applications/ssn --purpose credit-check \\
                      --tenant bfb

                A --token is verified against the issuer key in the data directory (governance.key, if present) \
                and any --trust-key; it is consulted only when no rule allows and none denies.
                """
        )
        @Option(help: "The policy file (JSON).")
        var policy: String
        @OptionGroup var request: RequestOptions
        @Option(help: "A governance token (srg1.…).")
        var token: String?
        @Option(help: "A trusted issuer's public key (base64url, 32 bytes); repeatable.")
        var trustKey: [String] = []
        @OptionGroup var data: DataDirectoryOptions
        @OptionGroup var output: Output

        struct Report: Encodable {
            struct Evaluation: Encodable {
                var rule: String
                var effect: String
                var applied: Bool
                var detail: String
            }
            var decision: String
            var matchedRules: [String]
            var reason: String
            var policyVersion: String
            var evaluated: [Evaluation]
        }

        func run() throws {
            let loaded = try PolicyCommand.load(policy)
            var trusted: [Curve25519.Signing.PublicKey] = []
            for text in trustKey {
                guard let raw = Base64URL.decode(text),
                    let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
                else { throw ValidationError("--trust-key: not a base64url Ed25519 public key") }
                trusted.append(key)
            }
            if token != nil, FileManager.default.fileExists(atPath: PolicyCommand.issuerURL(data).path) {
                do {
                    trusted.append(try GovernanceIssuer.loadOrCreate(at: PolicyCommand.issuerURL(data)).publicKey)
                } catch {
                    throw CLIError("\(error)")
                }
            }
            let engine = PolicyEngine(loaded, trustedIssuers: trusted)
            let explanation = engine.explain(
                loaded.principal(request.principal),
                try PolicyCommand.action(request.action),
                try PolicyCommand.resource(request.resource),
                try request.context(token: token)
            )
            let d = explanation.decision
            if output.json {
                try PolicyCommand.emit(
                    Report(
                        decision: d.effect.rawValue,
                        matchedRules: d.matchedRules,
                        reason: d.reason,
                        policyVersion: d.policyVersion,
                        evaluated: explanation.evaluations.map {
                            .init(rule: $0.ruleID, effect: $0.effect.rawValue, applied: $0.applied, detail: $0.detail)
                        }
                    )
                )
            } else {
                print("decision: \(d.effect.rawValue.uppercased())")
                print("matched rules: \(d.matchedRules.isEmpty ? "(none)" : d.matchedRules.joined(separator: ", "))")
                print("reason: \(d.reason)")
                print("policy version: \(d.policyVersion)")
                if explanation.evaluations.isEmpty {
                    print("rules in scope: none (no rule names this principal, action and resource)")
                } else {
                    print("rules in scope:")
                    for e in explanation.evaluations { print("  \(e.ruleID) [\(e.effect.rawValue)]: \(e.detail)") }
                }
            }
        }
    }

    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the allow/deny expectations of a policy's test file, as `opa test` does.",
            discussion: """
                Tests come from --tests, else the policy's own "tests" member, else FILE with .json replaced \
                by .tests.json. Format: {"tests": [{"name", "principal", "action", "resource", "purpose"?, \
                "sourceAddress"?, "tenant"?, "classification"?, "time"?, "expect": "allow"|"deny"}]}. \
                Exit status 1 if any case fails.

                  strongroom policy test examples/policy.json
                """
        )
        @Argument(help: "The policy file (JSON).")
        var file: String
        @Option(help: "The test file (default: see above).")
        var tests: String?
        @Flag(name: .shortAndLong, help: "Print every case, not only failures.")
        var verbose = false
        @OptionGroup var output: Output

        struct Report: Encodable {
            struct Case: Encodable {
                var name: String
                var passed: Bool
                var expected: String
                var decision: String
                var matchedRules: [String]
                var reason: String
            }
            var passed: Int
            var failed: Int
            var cases: [Case]
        }

        func run() throws {
            let policy = try PolicyCommand.load(file)
            var cases = policy.tests
            var source = "\(file)#/tests"
            if tests != nil || cases.isEmpty {
                let path = tests ?? (file.hasSuffix(".json") ? String(file.dropLast(5)) : file) + ".tests.json"
                source = path
                guard let bytes = FileManager.default.contents(atPath: path) else {
                    throw CLIError("\(path): cannot read the test file")
                }
                do {
                    cases = try PolicyTestCase.parse(file: bytes)
                } catch {
                    for issue in error.issues { printError("\(path): \(issue)") }
                    throw CLIError("\(path): \(error)")
                }
            }
            guard !cases.isEmpty else {
                // Zero cases prove nothing: a test run that checks nothing must not pass.
                throw CLIError("\(source): no test cases")
            }
            let results = cases.map { $0.run(against: policy) }
            let failed = results.filter { !$0.passed }
            if output.json {
                try PolicyCommand.emit(
                    Report(
                        passed: results.count - failed.count,
                        failed: failed.count,
                        cases: results.map {
                            .init(
                                name: $0.testCase.name,
                                passed: $0.passed,
                                expected: $0.testCase.expect.rawValue,
                                decision: $0.decision.effect.rawValue,
                                matchedRules: $0.decision.matchedRules,
                                reason: $0.decision.reason
                            )
                        }
                    )
                )
            } else {
                print("\(source):")
                for r in results where verbose || !r.passed {
                    let label = r.passed ? "PASS" : "FAIL"
                    print(
                        "\(label): \(r.testCase.name) (expected \(r.testCase.expect.rawValue), got "
                            + "\(r.decision.effect.rawValue): \(r.decision.reason)"
                            + (r.decision.matchedRules.isEmpty
                                ? "" : " [\(r.decision.matchedRules.joined(separator: ", "))]")
                            + ")"
                    )
                }
                print("--------------------------------------------------------------------------------")
                print("PASS: \(results.count - failed.count)/\(results.count)")
                if !failed.isEmpty { print("FAIL: \(failed.count)/\(results.count)") }
            }
            if !failed.isEmpty { throw ExitCode(1) }
        }
    }

    struct Grant: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a signed, expiring break-glass grant for one exact scope.",
            discussion: """
                The token is bound to the policy's version and digest (SHA-256 of the file) and to exactly \
                (principal, action, resource, purpose); \
                it only ever adds an allow where no rule allows, never overrides a deny. The issuer key is \
                governance.key in the data directory (created 0600 on first use); engines must trust its public \
                key (`strongroom policy issuer`).

                  strongroom policy grant --policy examples/policy.json \\
                      --principal analytics --action Decrypt \\
                      --resource field:loan_applications/ssn --purpose incident-4711 \\
                      --ttl 15m --single-use
                """
        )
        @Option(help: "The policy file (JSON) the grant is bound to.")
        var policy: String
        @Option(help: "The principal's id.")
        var principal: String
        @Option(help: "Produce, Consume, Describe, Decrypt, Alter, Erase or Admin.")
        var action: String
        @Option(help: "cluster, topic:NAME, group:NAME, subject:NAME, key:NAME or field:TOPIC/POINTER.")
        var resource: String
        @Option(help: "The purpose the request must state.")
        var purpose: String?
        @Option(help: "Lifetime: 90s, 15m, 2h, 1d (at most 7d).")
        var ttl: String
        @Flag(help: "Spend the token on its first use (replay cache per engine process).")
        var singleUse = false
        @OptionGroup var data: DataDirectoryOptions
        @OptionGroup var output: Output

        func run() throws {
            try data.audit("IssueGovernanceToken", "principal:\(principal)", reason: "\(action) \(resource)")
            let loaded = try PolicyCommand.load(policy)
            guard let seconds = durationSeconds(ttl, units: "smhd").flatMap({ $0 <= 7 * 86_400 ? Int($0) : nil }) else {
                throw ValidationError("--ttl: a positive duration such as 90s, 15m, 2h, 1d; at most 7d")
            }
            let action = try PolicyCommand.action(action)
            let resource = try PolicyCommand.resource(resource)
            if loaded.principals[principal] == nil {
                printError("warning: \(principal) is not declared in \(policy)")
            }
            try FileManager.default.createDirectory(
                at: data.url,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
            let now = Date()
            let expires = now.addingTimeInterval(TimeInterval(seconds))
            do {
                let issuer = try GovernanceIssuer.loadOrCreate(at: PolicyCommand.issuerURL(data))
                let token = try issuer.issue(
                    principal: principal,
                    action: action,
                    resource: resource,
                    purpose: purpose,
                    policy: loaded,
                    notBefore: now,
                    expires: expires,
                    singleUse: singleUse
                )
                if output.json {
                    let parsed = try GovernanceToken(parsing: token)
                    try PolicyCommand.emit([
                        "token": token, "id": parsed.id, "issuer": issuer.keyID, "expires": String(parsed.expires),
                        "policyVersion": loaded.version, "policyDigest": loaded.digest,
                    ])
                } else {
                    print(token)
                }
            } catch {
                throw CLIError("\(error)")
            }
        }
    }

    struct PinProducer: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pin-producer",
            abstract: "Write a copy of a policy that trusts a principal's producer key from this data directory.",
            discussion: """
                Consumers trust a signature only from a key the policy lists under \
                principals.<principal>.producerKeys. This reads <data-dir>/producer-<principal>.key (creating it, \
                mode 0600, on first use), adds its public key to the principal in a copy of POLICY, checks the \
                copy, and writes it to --out (never over an existing file). Review and sign off the copy as you \
                would any policy change; the pinning is audited.

                  strongroom policy pin-producer examples/policy.json \\
                      --principal pos-terminal --out policy.json
                """
        )
        @Argument(help: "The policy file to start from.")
        var policy: String
        @Option(help: "The producing principal (declared in the policy).")
        var principal: String
        @Option(help: "Where to write the new policy (must not exist).")
        var out: String
        @OptionGroup var data: DataDirectoryOptions

        func run() throws {
            _ = try data.existing()
            _ = try PolicyCommand.load(policy)
            guard let text = FileManager.default.contents(atPath: policy),
                case .object(var members) = try? JSONValue(parsing: Array(text))
            else { throw CLIError("\(policy): not a JSON object") }
            guard let p = members.firstIndex(where: { $0.key.hasSameBytes(as: "principals") }),
                case .object(var principals) = members[p].value,
                let i = principals.firstIndex(where: { $0.key.hasSameBytes(as: principal) }),
                case .object(var entry) = principals[i].value
            else { throw CLIError("\(principal) is not declared under principals in \(policy)") }
            let key = try CLIProducerKeys.loadOrCreate(principal: principal, in: data.url)
            let encoded = key.publicKey.rawRepresentation.base64EncodedString()
            var keys: [JSONValue] = []
            if let k = entry.firstIndex(where: { $0.key.hasSameBytes(as: "producerKeys") }) {
                guard case .array(let existing) = entry[k].value else {
                    throw CLIError("\(policy): principals.\(principal).producerKeys is not an array")
                }
                keys = existing
                entry.remove(at: k)
            }
            if !keys.contains(.string(encoded)) { keys.append(.string(encoded)) }
            entry.append(.init("producerKeys", .array(keys)))
            principals[i].value = .object(entry)
            members[p].value = .object(principals)
            let pinned = Array(JSONValue.object(members).indentedText().utf8)
            // Checked before anything is written, and never written over an existing file.
            do { _ = try Policy(parsing: pinned) } catch { throw CLIError("the pinned copy does not load: \(error)") }
            try data.audit("PinProducerKey", "principal:\(principal)", reason: "key \(encoded) pinned in \(out)")
            let fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw CLIError("cannot create \(out) (it may exist: pick a new file)") }
            defer { close(fd) }
            let written = pinned.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written == pinned.count, fsync(fd) == 0 else { throw CLIError("cannot write \(out)") }
            print("\(out): \(principal) now trusts producer key \(encoded)")
        }
    }

    struct Issuer: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the governance issuer's key id and public key (creating the key on first use).",
            discussion: "Pass the public key to `policy explain --trust-key`, or to PolicyEngine(trustedIssuers:)."
        )
        @OptionGroup var data: DataDirectoryOptions
        @OptionGroup var output: Output

        func run() throws {
            try FileManager.default.createDirectory(
                at: data.url,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
            do {
                let issuer = try GovernanceIssuer.loadOrCreate(at: PolicyCommand.issuerURL(data))
                let publicKey = Base64URL.encode(issuer.publicKey.rawRepresentation)
                if output.json {
                    try PolicyCommand.emit(["keyID": issuer.keyID, "publicKey": publicKey])
                } else {
                    print("key id: \(issuer.keyID)")
                    print("public key: \(publicKey)")
                }
            } catch {
                throw CLIError("\(error)")
            }
        }
    }
}

struct PolicyBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Authorization decisions/s on a generated 50 services × 200 topics policy (10,000 ACLs).",
        discussion: """
            One thread. The policy: each service has a literal allow on every topic (Produce+Describe on the 4 it \
            owns, Consume on the rest), a prefixed consumer-group allow, role-based Describe on a prefix, and \
            prefixed denies. Ops:
              authorize_allow       Consume on a topic the service may read (literal index hit)
              authorize_deny        Produce on a topic the service does not own (default deny)
              authorize_deny_rule   Consume on a restricted.* topic (explicit prefixed deny)
              policy_reload         parse + validate + index the serialized file (note: ms per reload)
            """
    )

    @Option(help: "Decisions timed per op.")
    var n = 1_000_000
    @Option(help: "Reloads timed.")
    var reloads = 10

    static func generate(services: Int = 50, topics: Int = 200) -> String {
        var rules: [String] = []
        rules.reserveCapacity(services * topics + services + 16)
        for s in 0..<services {
            for t in 0..<topics {
                let owner = t % services == s
                let actions = owner ? #"["Produce", "Describe"]"# : #"["Consume"]"#
                rules.append(
                    #"{"id": "svc-\#(s)-topic-\#(t)", "effect": "allow", "principals": ["svc-\#(s)"], "#
                        + #""actions": \#(actions), "resource": {"type": "topic", "name": "domain.topic-\#(t)"}}"#
                )
            }
            rules.append(
                #"{"id": "svc-\#(s)-groups", "effect": "allow", "principals": ["svc-\#(s)"], "actions": ["Consume"], "#
                    + #""resource": {"type": "group", "name": "svc-\#(s).", "pattern": "prefixed"}}"#
            )
        }
        for tier in 0..<5 {
            rules.append(
                #"{"id": "tier-\#(tier)-describe", "effect": "allow", "principals": ["role:tier-\#(tier)"], "#
                    + #""actions": ["Describe"], "resource": {"type": "subject", "name": "domain.", "pattern": "prefixed"}}"#
            )
        }
        for d in 0..<10 {
            rules.append(
                #"{"id": "deny-restricted-\#(d)", "effect": "deny", "principals": ["*"], "#
                    + #""actions": ["Consume", "Produce"], "#
                    + #""resource": {"type": "topic", "name": "restricted.\#(d)", "pattern": "prefixed"}}"#
            )
        }
        let roles = (0..<5).map { #""tier-\#($0)": {}"# }.joined(separator: ", ")
        let principals = (0..<services).map { #""svc-\#($0)": {"roles": ["tier-\#($0 % 5)"], "tenant": "bfb"}"# }
            .joined(separator: ",\n")
        return """
            {"version": "bench-1", "roles": {\(roles)},
             "principals": {\(principals)},
             "rules": [
            \(rules.joined(separator: ",\n"))
            ]}
            """
    }

    func run() throws {
        let text = PolicyBench.generate()
        let bytes = Array(text.utf8)
        let loaded: Policy
        do { loaded = try Policy(parsing: bytes) } catch { throw CLIError("\(error)") }
        guard loaded.warnings.isEmpty else { throw CLIError("generated policy has warnings: \(loaded.warnings)") }
        let engine = PolicyEngine(loaded)
        let context = AuthorizationContext()
        let services = (0..<50).map { loaded.principal("svc-\($0)") }

        var allow: [(Principal, Action, Resource)] = []
        var deny: [(Principal, Action, Resource)] = []
        var denyRule: [(Principal, Action, Resource)] = []
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<4096 {
            let s = Int.random(in: 0..<50, using: &generator)
            var t = Int.random(in: 0..<200, using: &generator)
            if t % 50 == s { t = (t + 1) % 200 }
            allow.append((services[s], .consume, .topic("domain.topic-\(t)")))
            deny.append((services[s], .produce, .topic("domain.topic-\(t)")))
            denyRule.append((services[s], .consume, .topic("restricted.\(t % 10).events")))
        }

        func time(_ requests: [(Principal, Action, Resource)], expect: Bool) throws -> Double {
            var wrong = 0
            for (p, a, r) in requests where engine.authorize(p, a, r, context).isAllowed != expect { wrong += 1 }
            guard wrong == 0 else { throw CLIError("bench policy decided \(wrong) requests wrongly") }
            let count = n
            let seconds = measure {
                var allowed = 0
                for i in 0..<count {
                    let (p, a, r) = requests[i & 4095]
                    if engine.authorize(p, a, r, context).isAllowed { allowed += 1 }
                }
                if allowed != (expect ? count : 0) { wrong += 1 }
            }
            guard wrong == 0 else { throw CLIError("bench policy decided requests wrongly") }
            return seconds
        }

        let note = "\(loaded.rules.count) rules, engine with Mutex snapshot, one thread"
        BenchLine(op: "authorize_allow", n: n, bytes: 0, seconds: try time(allow, expect: true), note: note).print()
        BenchLine(op: "authorize_deny", n: n, bytes: 0, seconds: try time(deny, expect: false), note: note).print()
        BenchLine(op: "authorize_deny_rule", n: n, bytes: 0, seconds: try time(denyRule, expect: false), note: note)
            .print()

        _ = try? Policy(parsing: bytes)
        var failures = 0
        let reloadSeconds = measure {
            for _ in 0..<reloads {
                do { engine.install(try Policy(parsing: bytes)) } catch { failures += 1 }
            }
        }
        guard failures == 0 else { throw CLIError("reload failed") }
        let ms = reloadSeconds / Double(reloads) * 1000
        BenchLine(
            op: "policy_reload",
            n: reloads,
            bytes: bytes.count * reloads,
            seconds: reloadSeconds,
            note: String(
                format: "%.1f ms per reload of %d rules (%d bytes): parse + validate + index",
                ms,
                loaded.rules.count,
                bytes.count
            )
        )
        .print()
    }
}
