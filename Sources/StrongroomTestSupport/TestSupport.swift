import Foundation

/// Helpers the test targets share: the shared vectors folder and scratch directories.
public enum TestSupport {
    /// `../shared/vectors` beside the package checkout.
    public static let vectorsDirectory: URL = packageRoot.deletingLastPathComponent()
        .appendingPathComponent("shared/vectors")

    /// The package root (the folder holding Package.swift).
    public static var packageRoot: URL {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }

    /// True when the shared vectors are present.
    public static var vectorsAvailable: Bool {
        FileManager.default.fileExists(atPath: vectorsDirectory.path)
    }

    /// True under CI, where missing vectors must fail rather than skip.
    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// Reads a vectors file as a JSON object.
    public static func vectorJSON(_ relativePath: String) throws -> [String: Any] {
        let data = try Data(contentsOf: vectorsDirectory.appendingPathComponent(relativePath))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CocoaError(.fileReadCorruptFile)
        }
        return object
    }

    /// A new empty directory under the temporary folder.
    public static func scratchDirectory(_ label: String = "test") -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "strongroom-\(label)-\(UUID().uuidString)"
        )
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The built `strongroom` executable beside the test bundle.
    public static var executable: URL? {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("strongroom")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir.deleteLastPathComponent()
        }
        return nil
    }

    /// Bytes from hex.
    public static func hex(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let h = iterator.next(), let l = iterator.next() {
            out.append(UInt8(nibble(h) << 4 | nibble(l)))
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8 {
        switch c {
        case 48...57: c - 48
        case 97...102: c - 87
        case 65...70: c - 55
        default: 0
        }
    }
}
