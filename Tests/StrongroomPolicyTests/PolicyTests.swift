import Foundation
import StrongroomPolicy
import StrongroomTestSupport
import Testing

/// A policy from JSON text; the rules list is wrapped with a version and declarations.
func policy(_ json: String) throws -> Policy { try Policy(parsing: Array(json.utf8)) }

/// Declarations shared by the small test policies.
let header = """
    "version": "v1",
    "roles": {"fraud": {}, "dev": {}},
    "principals": {
      "fraud-service": {"roles": ["fraud"], "tenant": "bfb", "department": "risk"},
      "analytics": {"tenant": "bfb", "department": "analytics"},
      "alice": {"kind": "user", "roles": ["dev"], "department": "engineering"}
    }
    """

func rules(_ body: String) throws -> Policy { try policy("{\(header), \"rules\": [\(body)]}") }

func allowed(
    _ p: Policy,
    _ principal: String,
    _ action: Action,
    _ resource: String,
    _ context: AuthorizationContext = AuthorizationContext()
) throws -> Bool {
    p.authorize(p.principal(principal), action, try Resource(parsing: resource), context).isAllowed
}

@Suite("Policy evaluation")
struct EvaluationTests {
    @Test("no rule: default deny, with a reason and no rule ids")
    func defaultDeny() throws {
        let p = try rules(
            #"{"id": "a", "effect": "allow", "principals": ["analytics"], "actions": ["Consume"], "resource": {"type": "topic", "name": "t"}}"#
        )
        let d = p.authorize(p.principal("analytics"), .produce, .topic("t"), AuthorizationContext())
        #expect(d.effect == .deny)
        #expect(d.matchedRules.isEmpty)
        #expect(d.reason.contains("default deny"))
        #expect(d.policyVersion == "v1")
        #expect(try !allowed(p, "analytics", .consume, "topic:other"))
        #expect(try !allowed(p, "fraud-service", .consume, "topic:t"))
        #expect(try allowed(p, "analytics", .consume, "topic:t"))
    }

    @Test("deny overrides allow; the decision names the deciding rules")
    func denyOverridesAllow() throws {
        let p = try rules(
            """
            {"id": "allow-all", "effect": "allow", "principals": ["*"], "actions": ["Consume"],
             "resource": {"type": "topic", "name": "loan_", "pattern": "prefixed"}},
            {"id": "allow-analytics", "effect": "allow", "principals": ["analytics"], "actions": ["Consume"],
             "resource": {"type": "topic", "name": "loan_applications"}},
            {"id": "deny-analytics", "effect": "deny", "principals": ["analytics"], "actions": ["Consume"],
             "resource": {"type": "topic", "name": "loan_applications"}}
            """
        )
        let d = p.authorize(p.principal("analytics"), .consume, .topic("loan_applications"), AuthorizationContext())
        #expect(d.effect == .deny)
        #expect(d.matchedRules == ["deny-analytics"])
        #expect(d.reason.contains("deny overrides allow"))
        let a = p.authorize(p.principal("fraud-service"), .consume, .topic("loan_applications"), AuthorizationContext())
        #expect(a.effect == .allow)
        #expect(a.matchedRules == ["allow-all"])
        #expect(a.reason == "allowed by rule")
        let both = p.authorize(p.principal("analytics"), .consume, .topic("loan_decisions"), AuthorizationContext())
        #expect(both.isAllowed && both.matchedRules == ["allow-all"])
    }

    @Test("literal vs prefixed names, wildcard principal")
    func patterns() throws {
        let p = try rules(
            """
            {"id": "lit", "effect": "allow", "principals": ["analytics"], "actions": ["Consume"],
             "resource": {"type": "topic", "name": "orders", "pattern": "literal"}},
            {"id": "pre", "effect": "allow", "principals": ["analytics"], "actions": ["Describe"],
             "resource": {"type": "topic", "name": "orders.", "pattern": "prefixed"}},
            {"id": "any", "effect": "allow", "principals": ["*"], "actions": ["Describe"],
             "resource": {"type": "group", "name": "", "pattern": "prefixed"}},
            {"id": "cluster", "effect": "allow", "principals": ["alice"], "actions": ["Describe"],
             "resource": {"type": "cluster"}}
            """
        )
        #expect(try allowed(p, "analytics", .consume, "topic:orders"))
        #expect(try !allowed(p, "analytics", .consume, "topic:orders.eu"))
        #expect(try !allowed(p, "analytics", .consume, "topic:order"))
        #expect(try allowed(p, "analytics", .describe, "topic:orders.eu"))
        #expect(try allowed(p, "analytics", .describe, "topic:orders."))
        #expect(try !allowed(p, "analytics", .describe, "topic:orders"))
        #expect(try !allowed(p, "analytics", .describe, "topic:order.s"))
        #expect(try allowed(p, "nobody-declared", .describe, "group:anything"))
        #expect(try allowed(p, "fraud-service", .describe, "group:x"))
        #expect(try !allowed(p, "fraud-service", .describe, "subject:x"))
        #expect(try allowed(p, "alice", .describe, "cluster"))
        #expect(try !allowed(p, "alice", .alter, "cluster"))
        // The resource type is part of the scope: a topic rule says nothing about groups.
        #expect(try !allowed(p, "analytics", .consume, "group:orders"))
    }

    @Test("roles: a role selector reaches holders, and only them; request-supplied roles count")
    func roles() throws {
        let p = try rules(
            """
            {"id": "fraud-consume", "effect": "allow", "principals": ["role:fraud"], "actions": ["Consume"],
             "resource": {"type": "topic", "name": "loan_applications"}}
            """
        )
        #expect(try allowed(p, "fraud-service", .consume, "topic:loan_applications"))
        #expect(try !allowed(p, "analytics", .consume, "topic:loan_applications"))
        let authenticated = Principal(id: "scorer-2", roles: ["fraud"])
        #expect(p.authorize(authenticated, .consume, .topic("loan_applications"), AuthorizationContext()).isAllowed)
    }

    @Test("time window: inside, outside the hours, outside the days, across midnight, in a zone")
    func timeWindow() throws {
        let p = try rules(
            """
            {"id": "office", "effect": "allow", "principals": ["alice"], "actions": ["Describe"],
             "resource": {"type": "topic", "name": "t"},
             "conditions": {"time": {"days": ["Mon", "Tue", "Wed", "Thu", "Fri"], "from": "08:00", "to": "18:00",
                                     "zone": "UTC"}}},
            {"id": "night", "effect": "allow", "principals": ["alice"], "actions": ["Alter"],
             "resource": {"type": "topic", "name": "t"},
             "conditions": {"time": {"from": "22:00", "to": "06:00", "zone": "Europe/Berlin"}}}
            """
        )
        func at(_ iso: String) throws -> AuthorizationContext {
            AuthorizationContext(time: try #require(ISO8601DateFormatter().date(from: iso)))
        }
        // 2026-11-24 is a Tuesday.
        #expect(try allowed(p, "alice", .describe, "topic:t", at("2026-11-24T08:00:00Z")))
        #expect(try allowed(p, "alice", .describe, "topic:t", at("2026-11-24T17:59:59Z")))
        #expect(try !allowed(p, "alice", .describe, "topic:t", at("2026-11-24T18:00:00Z")))
        #expect(try !allowed(p, "alice", .describe, "topic:t", at("2026-11-24T07:59:59Z")))
        #expect(try !allowed(p, "alice", .describe, "topic:t", at("2026-11-29T12:00:00Z")))
        let reason = p.authorize(p.principal("alice"), .describe, .topic("t"), try at("2026-11-29T12:00:00Z")).reason
        #expect(reason.contains("time window"))
        // Berlin is UTC+1 in November: 21:30Z is 22:30 there, 05:30Z is 06:30.
        #expect(try allowed(p, "alice", .alter, "topic:t", at("2026-11-24T21:30:00Z")))
        #expect(try allowed(p, "alice", .alter, "topic:t", at("2026-11-25T04:30:00Z")))
        #expect(try !allowed(p, "alice", .alter, "topic:t", at("2026-11-25T05:30:00Z")))
        #expect(try !allowed(p, "alice", .alter, "topic:t", at("2026-11-24T20:30:00Z")))
    }

    @Test("network: IPv4 and IPv6 inside and outside; no address, no match; mapped IPv4")
    func network() throws {
        let p = try rules(
            """
            {"id": "net", "effect": "allow", "principals": ["analytics"], "actions": ["Consume"],
             "resource": {"type": "topic", "name": "t"},
             "conditions": {"cidrs": ["10.0.0.0/8", "2001:db8:aa::/48", "::1/128"]}}
            """
        )
        func from(_ address: String) throws -> AuthorizationContext {
            let parsed: IPAddress = try #require(IPAddress(address))
            return AuthorizationContext(sourceAddress: parsed)
        }
        #expect(try allowed(p, "analytics", .consume, "topic:t", from("10.200.3.4")))
        #expect(try !allowed(p, "analytics", .consume, "topic:t", from("11.0.0.1")))
        #expect(try allowed(p, "analytics", .consume, "topic:t", from("2001:db8:aa:1::5")))
        #expect(try !allowed(p, "analytics", .consume, "topic:t", from("2001:db8:ab::5")))
        #expect(try allowed(p, "analytics", .consume, "topic:t", from("::1")))
        #expect(try !allowed(p, "analytics", .consume, "topic:t", from("::2")))
        #expect(try allowed(p, "analytics", .consume, "topic:t", from("::ffff:10.1.1.1")))
        #expect(try !allowed(p, "analytics", .consume, "topic:t"))
        #expect(IPAddress("10.1.2") == nil && IPAddress("fe80::1::2") == nil && CIDR("10.1.0.0/8") == nil)
        #expect(CIDR("10.0.0.0/33") == nil && CIDR("::/0") != nil && CIDR("0.0.0.0/0") != nil)
    }

    @Test("tenant match, classification and department conditions")
    func attributes() throws {
        let p = try rules(
            """
            {"id": "tenant", "effect": "allow", "principals": ["fraud-service"], "actions": ["Consume"],
             "resource": {"type": "topic", "name": "t"}, "conditions": {"tenant": "match"}},
            {"id": "class", "effect": "allow", "principals": ["analytics"], "actions": ["Consume"],
             "resource": {"type": "topic", "name": "t"}, "conditions": {"classification": ["INTERNAL", "PUBLIC"]}},
            {"id": "dept", "effect": "allow", "principals": ["*"], "actions": ["Describe"],
             "resource": {"type": "topic", "name": "t"}, "conditions": {"departments": ["risk", "engineering"]}}
            """
        )
        #expect(try allowed(p, "fraud-service", .consume, "topic:t", AuthorizationContext(tenant: "bfb")))
        #expect(try !allowed(p, "fraud-service", .consume, "topic:t", AuthorizationContext(tenant: "acme")))
        #expect(try !allowed(p, "fraud-service", .consume, "topic:t"))
        let noTenant = Principal(id: "fraud-service")
        #expect(!p.authorize(noTenant, .consume, .topic("t"), AuthorizationContext(tenant: "bfb")).isAllowed)
        #expect(try allowed(p, "analytics", .consume, "topic:t", AuthorizationContext(classification: "INTERNAL")))
        #expect(try !allowed(p, "analytics", .consume, "topic:t", AuthorizationContext(classification: "CONFIDENTIAL")))
        #expect(try !allowed(p, "analytics", .consume, "topic:t"))
        #expect(try allowed(p, "fraud-service", .describe, "topic:t"))
        #expect(try allowed(p, "alice", .describe, "topic:t"))
        #expect(try !allowed(p, "analytics", .describe, "topic:t"))
        let reason = p.authorize(p.principal("analytics"), .describe, .topic("t"), AuthorizationContext()).reason
        #expect(reason.contains("rule dept") && reason.contains("departments"))
    }

    @Test("purpose-bound field grant: that field, that topic, that purpose, nothing else")
    func purposeBound() throws {
        let p = try rules(
            """
            {"id": "fraud-decrypt-ssn", "effect": "allow", "principals": ["fraud-service"], "actions": ["Decrypt"],
             "resource": {"type": "field", "topic": "loan_applications", "pointers": ["/ssn", "/address"]},
             "purposes": ["credit-check"]}
            """
        )
        let check = AuthorizationContext(purpose: "credit-check")
        let d = p.authorize(
            p.principal("fraud-service"),
            .decrypt,
            .field(topic: "loan_applications", pointer: "/ssn"),
            check
        )
        #expect(d.isAllowed && d.matchedRules == ["fraud-decrypt-ssn"])
        #expect(try allowed(p, "fraud-service", .decrypt, "field:loan_applications/address/street", check))
        #expect(try !allowed(p, "fraud-service", .decrypt, "field:loan_applications/addressee", check))
        let wrong = AuthorizationContext(purpose: "marketing")
        let denied = p.authorize(
            p.principal("fraud-service"),
            .decrypt,
            .field(topic: "loan_applications", pointer: "/ssn"),
            wrong
        )
        #expect(!denied.isAllowed && denied.reason.contains("purpose"))
        #expect(try !allowed(p, "fraud-service", .decrypt, "field:loan_applications/ssn"))
        #expect(try !allowed(p, "fraud-service", .decrypt, "field:loan_applications/dateOfBirth", check))
        #expect(try !allowed(p, "fraud-service", .decrypt, "field:customer_360/ssn", check))
        #expect(try !allowed(p, "fraud-service", .consume, "topic:loan_applications", check))
        #expect(try !allowed(p, "analytics", .decrypt, "field:loan_applications/ssn", check))
    }

    @Test("explain lists every rule in scope, applied or not, and why")
    func explain() throws {
        let p = try rules(
            """
            {"id": "a", "effect": "allow", "principals": ["fraud-service"], "actions": ["Decrypt"],
             "resource": {"type": "field", "topic": "t", "pointers": ["/ssn"]}, "purposes": ["credit-check"]},
            {"id": "b", "effect": "allow", "principals": ["role:fraud"], "actions": ["Decrypt"],
             "resource": {"type": "field", "topic": "t", "pointers": ["/ssn"]}, "purposes": ["fraud"]}
            """
        )
        let e = p.explain(
            p.principal("fraud-service"),
            .decrypt,
            .field(topic: "t", pointer: "/ssn"),
            AuthorizationContext(purpose: "fraud")
        )
        #expect(e.decision.isAllowed && e.decision.matchedRules == ["b"])
        #expect(e.evaluations.map(\.ruleID) == ["a", "b"])
        #expect(e.evaluations.map(\.applied) == [false, true])
        #expect(e.evaluations[0].detail.contains("purpose"))
    }

    @Test("resource strings parse, print and refuse bad forms")
    func resourceStrings() throws {
        #expect(
            try Resource(parsing: "field:loan_applications/ssn") == .field(topic: "loan_applications", pointer: "/ssn")
        )
        #expect(try Resource(parsing: "field:t/a/b").pointer == "/a/b")
        #expect(try Resource(parsing: "cluster") == .cluster)
        #expect(try Resource(parsing: "group:g").description == "group:g")
        for bad in ["topic", "topic:", "queue:x", "field:t", "field:/ssn", "cluster:x"] {
            #expect(throws: PolicyError.self) { try Resource(parsing: bad) }
        }
    }
}

@Suite("Policy loading")
struct LoadingTests {
    func error(_ json: String) -> PolicyError? {
        do {
            _ = try policy(json)
            return nil
        } catch let error as PolicyError {
            return error
        } catch {
            return nil
        }
    }

    func ruleError(_ rule: String) -> PolicyError? { error("{\(header), \"rules\": [\(rule)]}") }

    @Test("each load error has its code, the JSON pointer and the rule id")
    func errors() throws {
        let unknownAction = try #require(
            ruleError(
                #"{"id": "r1", "effect": "allow", "principals": ["*"], "actions": ["Consume", "Read"], "resource": {"type": "topic", "name": "t"}}"#
            )
        )
        #expect(unknownAction.code == .unknownAction)
        #expect(unknownAction.description.contains("/rules/0/actions/1"))
        #expect(unknownAction.description.contains("\"r1\"") && unknownAction.description.contains("\"Read\""))

        let type = try #require(
            ruleError(
                #"{"id": "r2", "effect": "allow", "principals": ["*"], "actions": ["Consume"], "resource": {"type": "queue", "name": "t"}}"#
            )
        )
        #expect(type.code == .unknownResourceType && type.description.contains("/rules/0/resource/type"))

        let cidr = try #require(
            ruleError(
                #"{"id": "r3", "effect": "allow", "principals": ["*"], "actions": ["Consume"], "resource": {"type": "topic", "name": "t"}, "conditions": {"cidrs": ["10.0.0.0/8", "10.0.0.300/32"]}}"#
            )
        )
        #expect(cidr.code == .invalidCIDR && cidr.description.contains("/rules/0/conditions/cidrs/1"))

        for time in [
            #"{"from": "8:00", "to": "18:00"}"#, #"{"from": "08:00", "to": "25:00"}"#, #"{"days": ["Monday"]}"#,
            #"{"zone": "Mars/Olympus"}"#, #"{"from": "09:00", "to": "09:00"}"#,
        ] {
            let e = try #require(
                ruleError(
                    #"{"id": "r4", "effect": "allow", "principals": ["*"], "actions": ["Consume"], "resource": {"type": "topic", "name": "t"}, "conditions": {"time": "#
                        + time + "}}"
                )
            )
            #expect(e.code == .invalidTime && e.description.contains("/rules/0/conditions/time"))
        }

        let rule =
            #"{"id": "same", "effect": "allow", "principals": ["*"], "actions": ["Consume"], "resource": {"type": "topic", "name": "t"}}"#
        let duplicate = try #require(ruleError(rule + ", " + rule))
        #expect(duplicate.code == .duplicateRuleID && duplicate.description.contains("/rules/1/id"))

        let role = try #require(
            error(#"{"version": "v", "roles": {}, "principals": {"p": {"roles": ["ghost"]}}, "rules": []}"#)
        )
        #expect(role.code == .unknownRole && role.description.contains("/principals/p/roles/0"))

        let version = try #require(error(#"{"rules": []}"#))
        #expect(version.code == .missingVersion)
        #expect(error(#"{"version": 3, "rules": []}"#)?.code == .missingVersion)

        let typo = try #require(
            ruleError(
                #"{"id": "r5", "effect": "allow", "principals": ["*"], "actions": ["Consume"], "resource": {"type": "topic", "name": "t"}, "purpose": ["x"]}"#
            )
        )
        #expect(typo.code == .unknownField && typo.description.contains("/rules/0/purpose"))

        let json = try #require(error(#"{"version": "v", "version": "w"}"#))
        #expect(json.code == .invalidJSON)

        let pointer = try #require(
            ruleError(
                #"{"id": "r6", "effect": "allow", "principals": ["*"], "actions": ["Decrypt"], "resource": {"type": "field", "topic": "t", "pointers": ["ssn"]}, "purposes": ["p"]}"#
            )
        )
        #expect(pointer.code == .invalidResource)
    }

    @Test("every error is reported, not only the first")
    func allErrors() throws {
        let e = try #require(
            ruleError(
                """
                {"id": "a", "effect": "allow", "principals": ["*"], "actions": ["Read"], "resource": {"type": "topic", "name": "t"}},
                {"id": "b", "effect": "permit", "principals": ["*"], "actions": ["Consume"], "resource": {"type": "topic", "name": "t"}}
                """
            )
        )
        #expect(e.issues.count == 2)
        #expect(e.issues.map(\.ruleID) == ["a", "b"])
    }

    @Test("warnings: unreachable (shadowed, unknown principal or role), conflicts, decrypt without purpose")
    func warnings() throws {
        let p = try rules(
            """
            {"id": "allow-analytics", "effect": "allow", "principals": ["analytics"], "actions": ["Consume"],
             "resource": {"type": "topic", "name": "loan_applications"}},
            {"id": "deny-loans", "effect": "deny", "principals": ["*"], "actions": ["Consume", "Describe"],
             "resource": {"type": "topic", "name": "loan_", "pattern": "prefixed"}},
            {"id": "allow-describe-all", "effect": "allow", "principals": ["alice"], "actions": ["Describe"],
             "resource": {"type": "topic", "name": "", "pattern": "prefixed"}},
            {"id": "ghost", "effect": "allow", "principals": ["nobody", "role:phantom"], "actions": ["Consume"],
             "resource": {"type": "group", "name": "g"}},
            {"id": "unbound-decrypt", "effect": "allow", "principals": ["fraud-service"], "actions": ["Decrypt"],
             "resource": {"type": "field", "topic": "t", "pointers": ["/ssn"]}},
            {"id": "bound-decrypt", "effect": "allow", "principals": ["fraud-service"], "actions": ["Decrypt"],
             "resource": {"type": "field", "topic": "t", "pointers": ["/dob"]}, "purposes": ["credit-check"]}
            """
        )
        func kinds(_ rule: String) -> [PolicyIssue.Kind] { p.warnings.filter { $0.ruleID == rule }.map(\.kind) }
        #expect(kinds("allow-analytics") == [.unreachable])
        #expect(kinds("allow-describe-all") == [.conflict])
        #expect(kinds("ghost") == [.unreachable, .unreachable])
        #expect(kinds("unbound-decrypt") == [.decryptWithoutPurpose])
        #expect(kinds("bound-decrypt").isEmpty)
        #expect(kinds("deny-loans").isEmpty)
        #expect(p.warnings.allSatisfy { $0.severity == .warning })
        #expect(p.warnings.first { $0.ruleID == "allow-analytics" }?.message.contains("deny-loans") == true)
    }

    @Test("a conditional deny conflicts but does not shadow; a deny on other principals neither")
    func partialOverlap() throws {
        let p = try rules(
            """
            {"id": "allow", "effect": "allow", "principals": ["role:fraud"], "actions": ["Consume"],
             "resource": {"type": "topic", "name": "t"}},
            {"id": "deny-offsite", "effect": "deny", "principals": ["fraud-service"], "actions": ["Consume"],
             "resource": {"type": "topic", "name": "t"}, "conditions": {"cidrs": ["192.0.2.0/24"]}},
            {"id": "deny-alice", "effect": "deny", "principals": ["alice"], "actions": ["Consume"],
             "resource": {"type": "topic", "name": "t"}}
            """
        )
        #expect(p.warnings.map(\.kind) == [.conflict])
        #expect(p.warnings.first?.message.contains("deny-offsite") == true)
    }
}

@Suite("Examples")
struct ExampleTests {
    static let root = TestSupport.packageRoot.appendingPathComponent("examples")

    @Test("examples/policy.json loads without warnings and passes examples/policy.tests.json")
    func bfb() throws {
        let p = try Policy(contentsOf: Self.root.appendingPathComponent("policy.json"))
        #expect(p.warnings.isEmpty, "\(p.warnings)")
        let cases = try PolicyTestCase.parse(
            file: Array(try Data(contentsOf: Self.root.appendingPathComponent("policy.tests.json")))
        )
        #expect(cases.count >= 20)
        #expect(cases.contains { $0.expect == .allow } && cases.contains { $0.expect == .deny })
        for result in cases.map({ $0.run(against: p) }) {
            #expect(result.passed, "\(result.testCase.name): \(result.decision)")
        }
    }

    @Test("a wrong expectation fails: the runner is not a tautology")
    func runnerCanFail() throws {
        let p = try Policy(contentsOf: Self.root.appendingPathComponent("policy.json"))
        let wrong = PolicyTestCase(
            name: "analytics decrypts",
            principal: "analytics",
            action: .decrypt,
            resource: .field(topic: "loan_applications", pointer: "/ssn"),
            context: AuthorizationContext(purpose: "credit-check", tenant: "bfb"),
            expect: .allow
        )
        let result = wrong.run(against: p)
        #expect(!result.passed)
        #expect(result.decision.matchedRules == ["analytics-never-decrypts"])
    }
}
