import Crypto
import Foundation
@_spi(EngineClock) import StrongroomPolicy
import StrongroomTestSupport
import Synchronization
import Testing

/// Regression tests for the policy review findings (H1–H2, M1–M4 and the low ones).

@Suite("Topic denies cover fields (H1)")
struct TopicDenyTests {
    /// examples/policy.json plus `extra` rules, as parsed JSON.
    static func example(adding extra: [[String: Any]]) throws -> Policy {
        let url = TestSupport.packageRoot.appendingPathComponent("examples/policy.json")
        var root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let rules = try #require(root["rules"] as? [Any])
        root["rules"] = rules + extra
        return try Policy(parsing: Array(try JSONSerialization.data(withJSONObject: root)))
    }

    @Test("the review's scenario: a wildcard field allow does not defeat developers-never-consume")
    func reviewScenario() throws {
        let p = try Self.example(adding: [
            [
                "id": "support-decrypt-email", "effect": "allow", "principals": ["*"], "actions": ["Decrypt"],
                "resource": ["type": "field", "topic": "customer_360", "pointers": ["/email"]],
                "purposes": ["support"],
            ]
        ])
        let email = Resource.field(topic: "customer_360", pointer: "/email")
        let support = AuthorizationContext(purpose: "support", tenant: "bfb")
        let alice = p.authorize(p.principal("alice"), .decrypt, email, support)
        #expect(!alice.isAllowed)
        #expect(alice.matchedRules == ["developers-never-consume"])
        // Whoever the topic deny does not name keeps the field grant.
        #expect(p.authorize(p.principal("fraud-service"), .decrypt, email, support).isAllowed)
        // The analysis sees the topic deny against the field allow.
        #expect(
            p.warnings.contains {
                $0.ruleID == "support-decrypt-email" && $0.kind == .conflict
                    && $0.message.contains("developers-never-consume")
            }
        )
        // And explain lists it.
        let e = p.explain(p.principal("alice"), .decrypt, email, support)
        #expect(e.evaluations.contains { $0.ruleID == "developers-never-consume" && $0.applied })
    }

    @Test("a topic deny (literal or prefixed, any selector) covers every field of its topics only")
    func coverage() throws {
        let p = try rules(
            """
            {"id": "fields", "effect": "allow", "principals": ["fraud-service"], "actions": ["Decrypt"],
             "resource": {"type": "field", "topic": "", "pattern": "prefixed"}, "purposes": ["p"]},
            {"id": "no-loans", "effect": "deny", "principals": ["role:fraud"], "actions": ["Decrypt"],
             "resource": {"type": "topic", "name": "loan_applications"}},
            {"id": "no-hr", "effect": "deny", "principals": ["*"], "actions": ["Decrypt"],
             "resource": {"type": "topic", "name": "hr.", "pattern": "prefixed"}},
            {"id": "topic-consume", "effect": "allow", "principals": ["fraud-service"], "actions": ["Consume"],
             "resource": {"type": "topic", "name": "orders"}}
            """
        )
        let ctx = AuthorizationContext(purpose: "p")
        #expect(try !allowed(p, "fraud-service", .decrypt, "field:loan_applications/ssn", ctx))
        #expect(try !allowed(p, "fraud-service", .decrypt, "field:hr.salaries/amount", ctx))
        #expect(try allowed(p, "fraud-service", .decrypt, "field:loan_applications_v2/ssn", ctx))
        #expect(try allowed(p, "fraud-service", .decrypt, "field:orders/card", ctx))
        // A topic allow of another action says nothing about fields.
        #expect(try !allowed(p, "fraud-service", .consume, "field:orders/card", ctx))
        // An unconditional topic deny shadows a field allow it fully covers.
        let shadowed = try rules(
            """
            {"id": "ssn", "effect": "allow", "principals": ["fraud-service"], "actions": ["Decrypt"],
             "resource": {"type": "field", "topic": "hr.people", "pointers": ["/ssn"]}, "purposes": ["p"]},
            {"id": "no-hr", "effect": "deny", "principals": ["*"], "actions": ["Decrypt"],
             "resource": {"type": "topic", "name": "hr.", "pattern": "prefixed"}}
            """
        )
        #expect(shadowed.warnings.map(\.kind) == [.unreachable])
    }

    @Test(
        "a Decrypt allow on a topic or the cluster is refused at load",
        arguments: [
            #"{"type": "topic", "name": "loan_applications"}"#,
            #"{"type": "topic", "name": "", "pattern": "prefixed"}"#,
            #"{"type": "cluster"}"#,
        ]
    )
    func decryptAllowOutsideField(resource: String) throws {
        do {
            _ = try rules(
                #"{"id": "wide", "effect": "allow", "principals": ["fraud-service"], "actions": ["Consume", "Decrypt"], "#
                    + #""resource": \#(resource), "purposes": ["p"]}"#
            )
            Issue.record("a topic-level Decrypt allow loaded")
        } catch let error as PolicyError {
            #expect(error.code == .decryptOutsideField)
            #expect(error.description.contains("/rules/0/resource") && error.description.contains("field"))
        }
        // A deny of Decrypt on the same resource is fine.
        _ = try rules(
            #"{"id": "wide", "effect": "deny", "principals": ["fraud-service"], "actions": ["Decrypt"], "#
                + #""resource": \#(resource)}"#
        )
    }
}

@Suite("Field pointers (H2)")
struct PointerTests {
    let p: Policy

    init() throws {
        p = try rules(
            """
            {"id": "applicant", "effect": "allow", "principals": ["fraud-service"], "actions": ["Decrypt"],
             "resource": {"type": "field", "topic": "loan_applications", "pointers": ["/applicant"]},
             "purposes": ["p"]},
            {"id": "everything", "effect": "allow", "principals": ["analytics"], "actions": ["Decrypt"],
             "resource": {"type": "field", "topic": "loan_applications"}, "purposes": ["p"]},
            {"id": "no-ssn", "effect": "deny", "principals": ["*"], "actions": ["Decrypt"],
             "resource": {"type": "field", "topic": "loan_applications", "pointers": ["/applicant/ssn"]}}
            """
        )
    }

    @Test("a field deny covers a request for a parent of its pointer")
    func parentOfDenied() throws {
        let ctx = AuthorizationContext(purpose: "p")
        let parent = p.authorize(
            p.principal("fraud-service"),
            .decrypt,
            .field(topic: "loan_applications", pointer: "/applicant"),
            ctx
        )
        #expect(!parent.isAllowed && parent.matchedRules == ["no-ssn"])
        #expect(try allowed(p, "fraud-service", .decrypt, "field:loan_applications/applicant/name", ctx))
        #expect(try !allowed(p, "fraud-service", .decrypt, "field:loan_applications/applicant/ssn", ctx))
        #expect(try !allowed(p, "fraud-service", .decrypt, "field:loan_applications/applicant/ssn/last4", ctx))
        #expect(try allowed(p, "fraud-service", .decrypt, "field:loan_applications/applicant/ssnScore", ctx))
        // An allow still needs the request inside its pointer.
        #expect(try !allowed(p, "fraud-service", .decrypt, "field:loan_applications/income", ctx))
    }

    @Test("the whole event (pointer \"\") is refused in text, and overlaps every deny but no allow")
    func wholeEvent() throws {
        #expect(throws: PolicyError.self) { try Resource(parsing: "field:loan_applications") }
        let whole = Resource.field(topic: "loan_applications", pointer: "")
        let ctx = AuthorizationContext(purpose: "p")
        let d = p.authorize(p.principal("analytics"), .decrypt, whole, ctx)
        #expect(!d.isAllowed && d.matchedRules == ["no-ssn"])
        let bare = try rules(
            """
            {"id": "everything", "effect": "allow", "principals": ["analytics"], "actions": ["Decrypt"],
             "resource": {"type": "field", "topic": "t"}, "purposes": ["p"]}
            """
        )
        #expect(!bare.authorize(bare.principal("analytics"), .decrypt, .field(topic: "t", pointer: ""), ctx).isAllowed)
        #expect(bare.authorize(bare.principal("analytics"), .decrypt, .field(topic: "t", pointer: "/a"), ctx).isAllowed)
    }

    @Test("request and rule pointers must be RFC 6901: \"~\" only as ~0 or ~1")
    func escapes() throws {
        #expect(try Resource(parsing: "field:t/a~1b").pointer == "/a~1b")
        #expect(try Resource(parsing: "field:t/a~0b/c").pointer == "/a~0b/c")
        for bad in ["field:t/a~", "field:t/a~2b", "field:t/~x"] {
            #expect(throws: PolicyError(.invalidResource)) { try Resource(parsing: bad) }
        }
        // A malformed pointer built in code is denied, not evaluated.
        let d = p.authorize(
            p.principal("analytics"),
            .decrypt,
            .field(topic: "loan_applications", pointer: "applicant"),
            AuthorizationContext(purpose: "p")
        )
        #expect(!d.isAllowed && d.reason == "invalid field pointer")
        do {
            _ = try rules(
                """
                {"id": "r", "effect": "deny", "principals": ["*"], "actions": ["Decrypt"],
                 "resource": {"type": "field", "topic": "t", "pointers": ["/a~b"]}}
                """
            )
            Issue.record("a bad rule pointer loaded")
        } catch let error as PolicyError {
            #expect(error.code == .invalidResource && error.description.contains("/rules/0/resource/pointers/0"))
        }
    }
}

@Suite("Denies fail closed on missing attributes (M1)")
struct FailClosedTests {
    struct Case: Sendable, CustomStringConvertible {
        var condition: String
        /// A request lacking the attribute the condition tests.
        var missing: (Principal, AuthorizationContext)
        /// A request having it, with a value the deny's condition does not hold for.
        var unmet: (Principal, AuthorizationContext)
        var description: String { condition }
    }

    static let cases: [Case] = [
        Case(
            condition: #"{"classification": ["RESTRICTED"]}"#,
            missing: (Principal(id: "u"), AuthorizationContext()),
            unmet: (Principal(id: "u"), AuthorizationContext(classification: "INTERNAL"))
        ),
        Case(
            condition: #"{"departments": ["engineering"]}"#,
            missing: (Principal(id: "u"), AuthorizationContext()),
            unmet: (Principal(id: "u", department: "sales"), AuthorizationContext())
        ),
        Case(
            condition: #"{"cidrs": ["192.0.2.0/24"]}"#,
            missing: (Principal(id: "u"), AuthorizationContext()),
            unmet: (Principal(id: "u"), AuthorizationContext(sourceAddress: IPAddress("10.0.0.1")))
        ),
        Case(
            condition: #"{"tenant": "match"}"#,
            missing: (Principal(id: "u", tenant: "bfb"), AuthorizationContext()),
            unmet: (Principal(id: "u", tenant: "bfb"), AuthorizationContext(tenant: "acme"))
        ),
        Case(
            condition: #"{"tenant": "match"}"#,
            missing: (Principal(id: "u"), AuthorizationContext(tenant: "bfb")),
            unmet: (Principal(id: "u", tenant: "bfb"), AuthorizationContext(tenant: "acme"))
        ),
    ]

    @Test("a deny whose condition tests a missing attribute applies; an unmet one does not", arguments: cases)
    func missingAttribute(_ c: Case) throws {
        let p = try rules(
            """
            {"id": "allow", "effect": "allow", "principals": ["*"], "actions": ["Decrypt"],
             "resource": {"type": "field", "topic": "t"}, "purposes": ["p"]},
            {"id": "deny", "effect": "deny", "principals": ["*"], "actions": ["Decrypt"],
             "resource": {"type": "field", "topic": "t"}, "conditions": \(c.condition)}
            """
        )
        func decide(_ request: (Principal, AuthorizationContext)) -> Decision {
            var context = request.1
            context.purpose = "p"
            return p.authorize(request.0, .decrypt, .field(topic: "t", pointer: "/x"), context)
        }
        let d = decide(c.missing)
        #expect(!d.isAllowed && d.matchedRules == ["deny"], "\(d)")
        #expect(decide(c.unmet).isAllowed)
    }

    @Test("a purpose-bound deny applies to a request stating no purpose; allows still need theirs")
    func missingPurpose() throws {
        let p = try rules(
            """
            {"id": "allow", "effect": "allow", "principals": ["*"], "actions": ["Consume"],
             "resource": {"type": "topic", "name": "t"}},
            {"id": "deny-marketing", "effect": "deny", "principals": ["*"], "actions": ["Consume"],
             "resource": {"type": "topic", "name": "t"}, "purposes": ["marketing"]}
            """
        )
        #expect(try !allowed(p, "analytics", .consume, "topic:t"))
        #expect(try allowed(p, "analytics", .consume, "topic:t", AuthorizationContext(purpose: "billing")))
        #expect(try !allowed(p, "analytics", .consume, "topic:t", AuthorizationContext(purpose: "marketing")))
        // The allow side is unchanged: a missing attribute fails an allow's condition.
        let tenant = try rules(
            """
            {"id": "allow", "effect": "allow", "principals": ["*"], "actions": ["Consume"],
             "resource": {"type": "topic", "name": "t"}, "conditions": {"tenant": "match"}}
            """
        )
        #expect(try !allowed(tenant, "analytics", .consume, "topic:t"))
        #expect(try allowed(tenant, "analytics", .consume, "topic:t", AuthorizationContext(tenant: "bfb")))
    }
}

@Suite("Names are ASCII, compared byte for byte (M3)")
struct NameTests {
    @Test(
        "non-ASCII names are refused at load",
        arguments: [
            #""principals": {"jos\u00e9": {}}, "rules": []"#,
            #""roles": {"r\u00f4le": {}}, "rules": []"#,
            #""rules": [{"id": "a", "effect": "allow", "principals": ["jos\u00e9"], "actions": ["Admin"], "resource": {"type": "cluster"}}]"#,
            #""rules": [{"id": "d", "effect": "deny", "principals": ["*"], "actions": ["Consume"], "resource": {"type": "topic", "name": "salari\u00e9", "pattern": "prefixed"}}]"#,
            #""rules": [{"id": "f", "effect": "allow", "principals": ["*"], "actions": ["Decrypt"], "resource": {"type": "field", "topic": "t", "pointers": ["/caf\u00e9"]}, "purposes": ["p"]}]"#,
            #""rules": [{"id": "f", "effect": "allow", "principals": ["*"], "actions": ["Decrypt"], "resource": {"type": "field", "topic": "t"}, "purposes": ["r\u00e9sum\u00e9"]}]"#,
        ]
    )
    func refusedAtLoad(body: String) throws {
        do {
            _ = try policy(#"{"version": "v", \#(body)}"#)
            Issue.record("a non-ASCII name loaded: \(body)")
        } catch let error as PolicyError {
            #expect(error.code == .nonASCIIName, "\(error)")
        }
    }

    @Test("a request naming a Unicode-equivalent spelling is denied, never matched")
    func requests() throws {
        let p = try rules(
            """
            {"id": "all-topics", "effect": "allow", "principals": ["*"], "actions": ["Consume"],
             "resource": {"type": "topic", "name": "", "pattern": "prefixed"}},
            {"id": "no-x", "effect": "deny", "principals": ["*"], "actions": ["Consume"],
             "resource": {"type": "topic", "name": "x;", "pattern": "prefixed"}},
            {"id": "literal", "effect": "allow", "principals": ["analytics"], "actions": ["Describe"],
             "resource": {"type": "topic", "name": "a;b"}}
            """
        )
        // U+037E GREEK QUESTION MARK is canonically equivalent to ";": == and hashing say equal,
        // a byte prefix does not. The prefixed deny must not be slipped past that way.
        #expect("x\u{37E}y" == "x;y")
        let greek = p.authorize(p.principal("analytics"), .consume, .topic("x\u{37E}y"), AuthorizationContext())
        #expect(!greek.isAllowed && greek.reason == "non-ASCII name")
        let ascii = p.authorize(p.principal("analytics"), .consume, .topic("x;y"), AuthorizationContext())
        #expect(!ascii.isAllowed && ascii.matchedRules == ["no-x"])
        // Nor a literal name matched through ==.
        let literal = p.authorize(p.principal("analytics"), .describe, .topic("a\u{37E}b"), AuthorizationContext())
        #expect(!literal.isAllowed && literal.reason == "non-ASCII name")
        #expect(try allowed(p, "analytics", .describe, "topic:a;b"))
        // NFD spellings of principals, topics and purposes.
        let jose = p.authorize(Principal(id: "jose\u{301}"), .consume, .topic("t"), AuthorizationContext())
        #expect(!jose.isAllowed && jose.reason == "non-ASCII name")
        let nfd = p.authorize(p.principal("analytics"), .consume, .topic("salarie\u{301}s"), AuthorizationContext())
        #expect(!nfd.isAllowed && nfd.reason == "non-ASCII name")
        let purpose = AuthorizationContext(purpose: "caf\u{e9}")
        #expect(!p.authorize(p.principal("analytics"), .consume, .topic("t"), purpose).isAllowed)
        #expect(throws: PolicyError(.nonASCIIName)) { try Resource(parsing: "topic:salari\u{e9}s") }
    }
}

@Suite("One snapshot per decision (M4)")
struct SnapshotTests {
    /// Readers still running.
    final class Readers: Sendable {
        let count = Atomic(3)
    }

    static func version(_ v: String, role: String) throws -> Policy {
        try policy(
            """
            {"version": "\(v)", "roles": {"ra": {}, "rb": {}}, "principals": {"p": {"roles": ["\(role)"]}},
             "rules": [{"id": "allow-\(role)", "effect": "allow", "principals": ["role:\(role)"],
                        "actions": ["Consume"], "resource": {"type": "topic", "name": "t"}}]}
            """
        )
    }

    @Test("principal attributes and rules always come from the same version, under concurrent reloads")
    func principalAndRulesTogether() async throws {
        // Version A gives p role ra and allows ra; B gives p role rb and allows rb. Each version
        // allows p; A's attributes with B's rules (or the reverse) deny.
        let a = try Self.version("A", role: "ra")
        let b = try Self.version("B", role: "rb")
        let engine = PolicyEngine(a)
        let both = Principal(id: "p", roles: ["ra", "rb"])
        let readers = Readers()
        let mixed = await withTaskGroup(of: Int.self) { group in
            // Reloads run for as long as any reader does.
            group.addTask {
                var i = 0
                while readers.count.load(ordering: .acquiring) > 0 {
                    engine.install(i % 2 == 0 ? b : a)
                    i += 1
                }
                return 0
            }
            for _ in 0..<3 {
                group.addTask {
                    defer { readers.count.subtract(1, ordering: .releasing) }
                    var bad = 0
                    for _ in 0..<20_000 {
                        let d = engine.authorize(principalID: "p", .consume, .topic("t"), AuthorizationContext())
                        if !d.isAllowed { bad += 1 }
                        // explain with a token: the evaluations and the decision from one version.
                        let e = engine.explain(both, .consume, .topic("t"), AuthorizationContext(token: "srg1.x"))
                        let expected = e.decision.policyVersion == "A" ? "allow-ra" : "allow-rb"
                        if e.evaluations.map(\.ruleID) != [expected] { bad += 1 }
                    }
                    return bad
                }
            }
            return await group.reduce(0, +)
        }
        #expect(mixed == 0)
    }
}

@Suite("Selectors: a deny reached one way defeats an allow reached another")
struct SelectorTests {
    static let cases: [(allow: String, deny: String, denyResource: String)] = [
        (#"["fraud-service"]"#, #"["role:fraud"]"#, #"{"type": "topic", "name": "t"}"#),
        (#"["role:fraud"]"#, #"["*"]"#, #"{"type": "topic", "name": "t"}"#),
        (#"["*"]"#, #"["fraud-service"]"#, #"{"type": "topic", "name": "t", "pattern": "prefixed"}"#),
        (#"["fraud-service"]"#, #"["*"]"#, #"{"type": "topic", "name": "", "pattern": "prefixed"}"#),
        (#"["role:fraud"]"#, #"["role:fraud"]"#, #"{"type": "topic", "name": "t", "pattern": "prefixed"}"#),
    ]

    @Test("role, wildcard and prefixed denies against id, role and wildcard allows", arguments: 0..<5)
    func denyWins(index: Int) throws {
        let c = Self.cases[index]
        let p = try rules(
            """
            {"id": "allow", "effect": "allow", "principals": \(c.allow), "actions": ["Consume"],
             "resource": {"type": "topic", "name": "t"}},
            {"id": "deny", "effect": "deny", "principals": \(c.deny), "actions": ["Consume"],
             "resource": \(c.denyResource)}
            """
        )
        let d = p.authorize(p.principal("fraud-service"), .consume, .topic("t"), AuthorizationContext())
        #expect(!d.isAllowed && d.matchedRules == ["deny"], "\(c)")
    }
}

@Suite("Extreme times")
struct ExtremeTimeTests {
    @Test("a time condition at ±9.2e18 s neither traps nor matches wrongly")
    func timeWindow() throws {
        let p = try rules(
            """
            {"id": "office", "effect": "allow", "principals": ["alice"], "actions": ["Describe"],
             "resource": {"type": "topic", "name": "t"},
             "conditions": {"time": {"from": "08:00", "to": "18:00", "zone": "Europe/Dublin"}}}
            """
        )
        for seconds in [Double(Int64.max), 9.3e18, -9.3e18, 1e300, -1e300] {
            let d = p.authorize(
                p.principal("alice"),
                .describe,
                .topic("t"),
                AuthorizationContext(time: Date(timeIntervalSince1970: seconds))
            )
            #expect(d.policyVersion == "v1")
        }
    }
}
