import Foundation
import StrongroomKeys
import StrongroomTestSupport
import Testing

/// The AWS SigV4 test suite (Apache-2.0), as shipped in botocore's source distribution:
/// `scripts/test` downloads it and sets `STRONGROOM_SIGV4_SUITE` to its `aws4_testsuite` folder.
enum SigV4Suite {
    static let directory = ProcessInfo.processInfo.environment["STRONGROOM_SIGV4_SUITE"].map {
        URL(fileURLWithPath: $0)
    }

    /// Every case folder: one holding `<name>.req`.
    static var cases: [URL] {
        guard let directory, let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil)
        else { return [] }
        var found: [URL] = []
        for case let url as URL in walker where url.pathExtension == "req" {
            found.append(url.deletingPathExtension())
        }
        return found.sorted { $0.path < $1.path }
    }
}

@Suite("SigV4 against the AWS test suite", .enabled(if: SigV4Suite.directory != nil || TestSupport.isCI))
struct SigV4Tests {
    static let signer = SigV4(
        credentials: .init(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1",
        service: "service"
    )

    @Test("the suite is there and complete")
    func suitePresent() {
        #expect(SigV4Suite.directory != nil, "set STRONGROOM_SIGV4_SUITE (scripts/test does)")
        #expect(SigV4Suite.cases.count >= 28)
    }

    @Test("request → canonical request → string to sign → authorization, every case", arguments: SigV4Suite.cases)
    func testCase(_ base: URL) throws {
        func read(_ ext: String) throws -> String {
            try String(contentsOf: base.appendingPathExtension(ext), encoding: .utf8)
        }
        let raw = try read("req")
        var lines = raw.components(separatedBy: "\n")
        let requestLine = lines.removeFirst().split(separator: " ")
        try #require(requestLine.count >= 3)
        let method = String(requestLine[0])
        let target = requestLine[1..<(requestLine.count - 1)].joined(separator: " ")
        var headers: [(String, String)] = []
        var body: [String] = []
        var inBody = false
        for line in lines {
            if inBody {
                body.append(line)
            } else if line.isEmpty {
                inBody = true
            } else if line.first == " " || line.first == "\t", let last = headers.popLast() {
                headers.append((last.0, last.1 + "\n" + line))
            } else if let colon = line.firstIndex(of: ":") {
                headers.append((String(line[..<colon]), String(line[line.index(after: colon)...])))
            }
        }
        // As botocore's harness does: a case with a token names it in its canonical request.
        var signer = Self.signer
        let creq = try read("creq")
        if let line = creq.split(separator: "\n").first(where: { $0.hasPrefix("x-amz-security-token:") }) {
            signer.credentials.sessionToken = String(line.dropFirst("x-amz-security-token:".count))
        }
        let signed = signer.sign(
            method: method,
            target: target,
            headers: headers,
            body: Array(body.joined(separator: "\n").utf8)
        )
        #expect(signed.canonicalRequest == creq, "\(base.lastPathComponent): canonical request")
        #expect(signed.stringToSign == (try read("sts")), "\(base.lastPathComponent): string to sign")
        #expect(signed.authorization == (try read("authz")), "\(base.lastPathComponent): authorization")
    }

    @Test("a changed secret, region, date or body changes the signature")
    func sensitivity() {
        let headers = [("Host", "kms.eu-central-1.amazonaws.com"), ("X-Amz-Date", "20261126T120000Z")]
        let base = Self.signer.sign(method: "POST", target: "/", headers: headers, body: Array("{}".utf8))
        var other = Self.signer
        other.credentials.secretAccessKey += "x"
        #expect(
            other.sign(method: "POST", target: "/", headers: headers, body: Array("{}".utf8)).authorization
                != base.authorization
        )
        other = Self.signer
        other.region = "eu-west-1"
        #expect(
            other.sign(method: "POST", target: "/", headers: headers, body: Array("{}".utf8)).authorization
                != base.authorization
        )
        #expect(
            Self.signer.sign(method: "POST", target: "/", headers: headers, body: Array("{ }".utf8)).authorization
                != base.authorization
        )
        #expect(SigV4.timestamp(Date(timeIntervalSince1970: 1_440_938_160)) == "20150830T123600Z")
    }
}
