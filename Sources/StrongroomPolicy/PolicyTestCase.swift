import Foundation
import StrongroomJSON

/// One allow/deny expectation of a policy's test file, as `opa test` runs them.
///
/// File form: `{"tests": [{"name": "...", "principal": "fraud-service", "action": "Decrypt",
/// "resource": "field:loan_applications/ssn", "purpose": "credit-check", "expect": "allow"}]}`;
/// optional `sourceAddress`, `tenant`, `classification` and `time` (Unix seconds or RFC 3339).
public struct PolicyTestCase: Hashable, Sendable {
    /// The case's name.
    public var name: String
    /// The principal's id (its declared attributes are used).
    public var principal: String
    /// The action.
    public var action: Action
    /// The resource.
    public var resource: Resource
    /// The request context.
    public var context: AuthorizationContext
    /// The expected effect.
    public var expect: Effect

    /// A test case.
    public init(
        name: String,
        principal: String,
        action: Action,
        resource: Resource,
        context: AuthorizationContext,
        expect: Effect
    ) {
        self.name = name
        self.principal = principal
        self.action = action
        self.resource = resource
        self.context = context
        self.expect = expect
    }

    /// The outcome of running one case.
    public struct Result: Hashable, Sendable {
        /// The case.
        public let testCase: PolicyTestCase
        /// What the policy decided.
        public let decision: Decision
        /// True when the decision's effect is the expected one.
        public var passed: Bool { decision.effect == testCase.expect }
    }

    /// Runs the case against `policy`.
    public func run(against policy: Policy) -> Result {
        Result(
            testCase: self,
            decision: policy.authorize(policy.principal(principal), action, resource, context)
        )
    }

    /// Parses a test file: `{"tests": [...]}` or a bare array of cases.
    public static func parse(file bytes: some Collection<UInt8>) throws(PolicyError) -> [PolicyTestCase] {
        let root: JSONValue
        do {
            root = try JSONValue(parsing: bytes)
        } catch {
            throw PolicyError(
                .invalidJSON,
                "\(error)",
                issues: [.error(.invalidJSON, at: "", rule: nil, "\(error)")]
            )
        }
        if case .array = root { return try parse(list: root, at: "") }
        guard let tests = root["tests"] else {
            let issue = PolicyIssue.error(
                .missingField,
                at: "/tests",
                rule: nil,
                "a test file holds {\"tests\": [...]}"
            )
            throw PolicyError(.missingField, issue.description, issues: [issue])
        }
        return try parse(list: tests, at: "/tests")
    }

    static func parse(list: JSONValue, at pointer: String) throws(PolicyError) -> [PolicyTestCase] {
        guard case .array(let elements) = list else {
            let issue = PolicyIssue.error(.invalidField, at: pointer, rule: nil, "tests are an array of cases")
            throw PolicyError(.invalidField, issue.description, issues: [issue])
        }
        var issues: [PolicyIssue] = []
        var out: [PolicyTestCase] = []
        for (i, element) in elements.enumerated() {
            let at = "\(pointer)/\(i)"
            func fail(_ code: PolicyError.Code, _ field: String, _ message: String) {
                issues.append(.error(code, at: at + field, rule: nil, message))
            }
            guard let members = element.objectMembers else {
                fail(.invalidField, "", "a test case is an object")
                continue
            }
            let allowed: Set<String> = [
                "name", "principal", "action", "resource", "purpose", "sourceAddress", "tenant", "classification",
                "time", "expect",
            ]
            for m in members where !allowed.contains(m.key) {
                fail(.unknownField, "/" + m.key, "\"\(m.key)\" is not a test case field")
            }
            let name = element["name"]?.stringValue ?? "case \(i)"
            guard let principal = element["principal"]?.stringValue, !principal.isEmpty else {
                fail(.missingField, "/principal", "a test case needs a \"principal\"")
                continue
            }
            guard let actionName = element["action"]?.stringValue, let action = Action(name: actionName) else {
                fail(.unknownAction, "/action", "a test case needs a known \"action\"")
                continue
            }
            let resource: Resource
            do {
                resource = try Resource(parsing: element["resource"]?.stringValue ?? "")
            } catch {
                fail(error.code, "/resource", error.description)
                continue
            }
            let expect: Effect
            switch element["expect"]?.stringValue {
            case "allow": expect = .allow
            case "deny": expect = .deny
            default:
                fail(.invalidField, "/expect", "\"expect\" must be \"allow\" or \"deny\"")
                continue
            }
            var context = AuthorizationContext()
            context.purpose = element["purpose"]?.stringValue
            context.tenant = element["tenant"]?.stringValue
            context.classification = element["classification"]?.stringValue
            if let text = element["sourceAddress"]?.stringValue {
                guard let address = IPAddress(text) else {
                    fail(.invalidField, "/sourceAddress", "not an IPv4 or IPv6 address")
                    continue
                }
                context.sourceAddress = address
            }
            switch element["time"] {
            case nil: break
            case .number(let text)?:
                guard let seconds = Int64(text) else {
                    fail(.invalidTime, "/time", "Unix seconds must be an integer")
                    continue
                }
                context.time = Date(timeIntervalSince1970: TimeInterval(seconds))
            case .string(let text)?:
                guard let date = ISO8601DateFormatter().date(from: text) else {
                    fail(.invalidTime, "/time", "not an RFC 3339 time (2026-11-24T09:30:00Z)")
                    continue
                }
                context.time = date
            default:
                fail(.invalidTime, "/time", "Unix seconds or an RFC 3339 string")
                continue
            }
            out.append(
                PolicyTestCase(
                    name: name,
                    principal: principal,
                    action: action,
                    resource: resource,
                    context: context,
                    expect: expect
                )
            )
        }
        if let first = issues.first {
            throw PolicyError(first.code ?? .invalidField, first.description, issues: issues)
        }
        return out
    }
}
