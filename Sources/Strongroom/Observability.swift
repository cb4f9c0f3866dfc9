import Foundation
public import Logging
import StrongroomJSON

/// A swift-log handler writing one JSON object per line: time, level, label, message and
/// metadata (`{"time":"…","level":"info","label":"strongroom.pipeline","message":"produce",…}`).
///
/// The pipeline logs ids, topics, counts and reasons only: never a payload value.
public struct JSONLogHandler: LogHandler {
    /// Where lines go.
    public let sink: @Sendable ([UInt8]) -> Void
    /// The logger's label.
    public let label: String
    /// Metadata on every line of this logger.
    public var metadata: Logger.Metadata = [:]
    /// The lowest level written.
    public var logLevel: Logger.Level = .info

    /// A handler for `label` writing to `sink` (standard error by default).
    public init(label: String, sink: @escaping @Sendable ([UInt8]) -> Void = JSONLogHandler.standardError) {
        self.label = label
        self.sink = sink
    }

    /// Writes to standard error.
    public static let standardError: @Sendable ([UInt8]) -> Void = { bytes in
        FileHandle.standardError.write(Data(bytes))
    }

    /// A metadata value.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one line.
    public func log(event: LogEvent) {
        var members: [JSONValue.Member] = [
            .init("time", .string(ISO8601DateFormatter().string(from: Date()))),
            .init("level", .string(event.level.rawValue)),
            .init("label", .string(label)),
            .init("message", .string(event.message.description)),
        ]
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            members.append(.init(key, Self.json(value)))
        }
        var out: [UInt8] = []
        JSONValue.object(members).write(to: &out)
        out.append(0x0A)
        sink(out)
    }

    static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let s): .string(s)
        case .stringConvertible(let c): .string(c.description)
        case .array(let items): .array(items.map(json))
        case .dictionary(let d): .object(d.sorted { $0.key < $1.key }.map { .init($0.key, json($0.value)) })
        }
    }
}
