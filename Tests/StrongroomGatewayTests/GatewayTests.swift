import Foundation
import StrongroomGateway
import StrongroomJSON
import StrongroomTestSupport
import Testing

@Suite("Principal mapping rules (Kafka's ssl.principal.mapping.rules syntax)")
struct PrincipalMappingTests {
    @Test("rules apply in order, to the whole DN, with groups, L and U, escaped slashes and DEFAULT")
    func rules() throws {
        let mapping = try PrincipalMapping(
            rules: #"RULE:^CN=([a-zA-Z0-9._-]+),OU=ops,.*$/$1@ops/L, RULE:^CN=([a-zA-Z0-9._-]+),.*$/$1/,"#
                + #" RULE:^O=(.*)$/org\/$1/U,DEFAULT"#
        )
        #expect(mapping.principal(for: "CN=Svc-Ledger,OU=ops,O=Acme Bank,C=GB") == "svc-ledger@ops")
        #expect(mapping.principal(for: "CN=svc-ledger,OU=payments,O=Acme Bank,C=GB") == "svc-ledger")
        #expect(mapping.principal(for: "O=acme") == "ORG/ACME")
        #expect(mapping.principal(for: "C=GB,CN=x") == "C=GB,CN=x", "DEFAULT gives the DN")
        // A pattern must match the whole DN, not a part of it.
        let strict = try PrincipalMapping(rules: #"RULE:CN=([a-z]+)/$1/"#)
        #expect(strict.principal(for: "CN=abc,O=x") == nil, "no rule matches: refused")
        #expect(try PrincipalMapping(rules: "").principal(for: "CN=a") == "CN=a")
        // Java's matches(): a lazy group still has to reach the end of the DN.
        let lazy = try PrincipalMapping(rules: #"RULE:^CN=([^,]+),OU=(.+?)/$1@$2/,DEFAULT"#)
        #expect(lazy.principal(for: "CN=a,OU=b,O=c") == "a@b,O=c")
    }

    @Test("malformed rule lists are errors, not ignored")
    func malformed() {
        for text in ["RULE:^CN=(.*)$/$1", "RULE:(/x/", "DEFAULTS", "RULE:^a$/b/X", "KERBEROS"] {
            #expect(throws: PrincipalMapping.ParseError.self, "\(text)") { try PrincipalMapping(rules: text) }
        }
    }
}

@Suite("Gateway configuration")
struct GatewayConfigurationTests {
    func parse(_ text: String) throws -> GatewayConfiguration {
        try GatewayConfiguration(json: try JSONValue(parsing: text), base: URL(fileURLWithPath: "/etc/strongroom"))
    }

    @Test("a full configuration reads; relative paths are taken from its folder")
    func reads() throws {
        let config = try parse(
            #"""
            {"listen": "0.0.0.0:9443", "authentication": "mtls",
             "tls": {"certificate": "server.pem", "privateKey": "/keys/server.key", "clientCA": "ca.pem"},
             "principalMappingRules": "RULE:^CN=([a-z-]+),.*$/$1/", "revokedSubjects": ["CN=old,O=Acme"],
             "tenants": {"bfb": {"dataDirectory": "data", "policy": "policy.json"}},
             "limits": {"maxBodyBytes": 65536, "requestsPerSecond": 5, "burst": 10}}
            """#
        )
        #expect(config.host == "0.0.0.0" && config.port == 9443)
        #expect(config.tls?.certificate == "/etc/strongroom/server.pem")
        #expect(config.tls?.privateKey == "/keys/server.key")
        #expect(config.tenants["bfb"]?.dataDirectory == "/etc/strongroom/data")
        #expect(config.limits.maxBodyBytes == 65_536 && config.limits.burst == 10)
    }

    @Test("YAML reads to the same configuration as JSON; YAML's surprises are refused, not guessed")
    func yaml() throws {
        let folder = TestSupport.scratchDirectory("gateway-yaml")
        let file = folder.appendingPathComponent("gateway.yaml")
        try Data(
            """
            # The same listener as the JSON test above.
            listen: "0.0.0.0:9443"
            authentication: mtls
            tls:
              certificate: server.pem
              privateKey: /keys/server.key
              clientCA: ca.pem
            principalMappingRules: 'RULE:^CN=([a-z-]+),.*$/$1/'
            revokedSubjects: ["CN=old,O=Acme"]
            tenants:
              bfb: {dataDirectory: data, policy: policy.json}
            limits:
              maxBodyBytes: 65536
              requestsPerSecond: 5
              burst: +10
            """.utf8
        ).write(to: file)
        let config = try GatewayConfiguration(contentsOf: file)
        #expect(config.host == "0.0.0.0" && config.port == 9443 && config.authentication == .mtls)
        #expect(config.tls?.certificate == folder.appendingPathComponent("server.pem").path)
        #expect(config.principalMappingRules == "RULE:^CN=([a-z-]+),.*$/$1/")
        #expect(config.revokedSubjects == ["CN=old,O=Acme"])
        #expect(config.tenants["bfb"]?.policy == folder.appendingPathComponent("policy.json").path)
        #expect(config.limits.maxBodyBytes == 65_536 && config.limits.burst == 10)

        let base = "listen: 127.0.0.1:0\nauthentication: oidc\ntenants: {t: {dataDirectory: d, policy: p}}\n"
        let cases: [(String, String)] = [
            (base + "allowPlaintext: yes\n", "allowPlaintext: expected true or false"),
            (base + "allowPlaintext: true\nallowPlaintext: true\n", "duplicated key"),
            (base + "limits: {burst: 0x10}\n", "burst: expected a whole number"),
            (base + "limits: {burst: !!int 10}\n", "tag"),
            (base + "limits: {burst: !!int \"10\"}\n", "tag"),
            (base + "limits: !!set {burst: 10}\n", "tag"),
            (base + "limits: {burst: +-5}\n", "burst: expected a whole number"),
            (base + "<<: {burst: 1}\n", "<<: unknown key"),
            (base + "listn: x\n", "listn: unknown key"),
            ("authentication: mtls\n---\nauthentication: oidc\n", "not YAML"),
            ("authentication: [mtls\n", "not YAML"),
        ]
        for (text, expected) in cases {
            let bad = folder.appendingPathComponent("bad.yml")
            try Data(text.utf8).write(to: bad)
            let error = #expect(throws: GatewayConfiguration.Invalid.self, "\(text)") {
                try GatewayConfiguration(contentsOf: bad)
            }
            #expect(error?.description.contains(expected) == true, "\(text): \(error?.description ?? "")")
        }
    }

    @Test("unknown keys, a missing section, plain HTTP and bad values are clear errors")
    func refuses() {
        let tenants = #""tenants": {"bfb": {"dataDirectory": "d", "policy": "p"}}"#
        let tls = #""tls": {"certificate": "c", "privateKey": "k", "clientCA": "ca"}"#
        let cases: [(String, String)] = [
            (#"{"authentication": "mtls", \#(tls), \#(tenants), "listn": "x"}"#, "listn: unknown key"),
            (
                #"{"authentication": "mtls", \#(tls), "tenants": {"bfb": {"dataDirectory": "d", "policy": "p", "x": 1}}}"#,
                "tenants.bfb.x: unknown key"
            ),
            (#"{"authentication": "basic", \#(tls), \#(tenants)}"#, "not supported"),
            (#"{"authentication": "oidc", \#(tls), \#(tenants)}"#, "the oidc section is required"),
            (#"{"authentication": "mtls", \#(tenants)}"#, "tls.clientCA is required"),
            (#"{"authentication": "mtls", \#(tls), \#(tenants), "limits": {"burst": 0}}"#, "limits.burst"),
            (
                #"{"authentication": "mtls", \#(tls), \#(tenants), "principalMappingRules": "RULE:x"}"#,
                "principal mapping"
            ),
            (#"{"authentication": "mtls", \#(tls)}"#, "tenants: required"),
        ]
        for (text, message) in cases {
            do {
                _ = try parse(text)
                Issue.record("accepted: \(text)")
            } catch {
                #expect("\(error)".contains(message), "\(error)")
            }
        }
        var plain = GatewayConfiguration(authentication: .oidc, tenants: [:])
        plain.oidc = .init(jwks: "j", issuer: "i", audience: "a")
        #expect(throws: GatewayConfiguration.Invalid.self) { try plain.check() }
        plain.allowPlaintext = true
        #expect(throws: Never.self) { try plain.check() }
        plain.host = "0.0.0.0"
        #expect(throws: GatewayConfiguration.Invalid.self, "tokens in the clear off loopback") { try plain.check() }
        plain.host = "127.0.0.1"
        plain.limits.requestsPerSecond = 0
        #expect(throws: GatewayConfiguration.Invalid.self, "limits are checked however the configuration was made") {
            try plain.check()
        }
        plain.limits.requestsPerSecond = 10
        plain.oidc?.clockSkewSeconds = 3_600
        #expect(throws: GatewayConfiguration.Invalid.self) { try plain.check() }
    }
}

@Suite("Rate limits")
struct RateLimiterTests {
    @Test("a tenant's bucket empties after the burst and refills at the rate; tenants are apart")
    func buckets() {
        let limiter = RateLimiter(rate: 2, burst: 3)
        let start = ContinuousClock.now
        for _ in 0..<3 { #expect(limiter.take("a", now: start) == nil) }
        #expect(limiter.take("a", now: start) == 1)
        #expect(limiter.take("b", now: start) == nil, "another tenant has its own bucket")
        #expect(limiter.take("a", now: start + .milliseconds(500)) == nil, "half a second refills one token")
        #expect(limiter.take("a", now: start + .milliseconds(500)) != nil)
    }

    @Test("waiting looks without taking; full buckets are forgotten once many keys are held")
    func waitingAndForgetting() {
        let limiter = RateLimiter(rate: 1, burst: 2)
        let start = ContinuousClock.now
        #expect(limiter.waiting("x", now: start) == nil, "an unknown key has a full bucket")
        _ = limiter.take("x", now: start)
        _ = limiter.take("x", now: start)
        #expect(limiter.waiting("x", now: start) == 1)
        #expect(limiter.waiting("x", now: start) == 1, "looking took nothing")
        #expect(limiter.waiting("x", now: start + .seconds(1)) == nil)
        for i in 0..<RateLimiter.keptKeys { _ = limiter.take("k\(i)", now: start) }
        _ = limiter.take("x", now: start)
        _ = limiter.take("x", now: start)
        // Long after, every other bucket is full again and is dropped; the empty one stays.
        let later = start + .seconds(3600)
        _ = limiter.take("y", now: later)
        #expect(limiter.count <= 3, "\(limiter.count) keys kept")
        #expect(limiter.take("y", now: later) == nil && limiter.take("y", now: later) != nil)
    }
}
