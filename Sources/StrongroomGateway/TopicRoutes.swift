#if Gateway
import Foundation
import Hummingbird
import NIOCore
import NIOPosix
import Strongroom
import StrongroomLog
import StrongroomPolicy

/// Topics: list and describe (each topic needs `Describe` on it), and create (`Admin` on the
/// cluster, audited first; the dead-letter topic is made beside it).
struct TopicRoutes {
    let gateway: Gateway

    func add(to group: RouterGroup<GatewayContext>) {
        group.get("v1/topics") { _, context in
            let (identity, tenant) = try gateway.tenant(context)
            let authorization = gateway.authorization(context, tenant)
            let log = tenant.services.log
            let topics = try await NIOThreadPool.singleton.runIfActive { try log.topics() }
            // Only what this principal may describe; the rest are not named.
            let visible = topics.filter { topic in
                tenant.services.policy.authorize(identity.principal, .describe, .topic(topic.name), authorization)
                    .isAllowed
            }
            return try AdminRoutes.encoded(["topics": visible])
        }
        group.get("v1/topics/:topic") { _, context in
            let (identity, tenant) = try gateway.tenant(context)
            let name = try gateway.topicParameter(context)
            // Decided before the log is looked at: a refused caller learns nothing of the topic.
            let decision = tenant.services.policy.authorize(
                identity.principal,
                .describe,
                .topic(name),
                gateway.authorization(context, tenant)
            )
            guard decision.isAllowed else {
                throw Problem(
                    .forbidden,
                    "denied",
                    "Denied",
                    "the policy does not let this principal describe the topic"
                )
            }
            let log = tenant.services.log
            return try AdminRoutes.encoded(
                try await NIOThreadPool.singleton.runIfActive { try log.describeTopic(name) }
            )
        }
        group.post("v1/topics") { request, context in try await create(request, context) }
    }

    func create(_ request: Request, _ context: GatewayContext) async throws -> Response {
        var body = try await JSONBody(request, limit: gateway.configuration.limits.maxBodyBytes)
        let config: TopicConfig
        let name: String
        do throws(GatewayConfiguration.Invalid) {
            guard let given = try body.reader.string("name"), !given.isEmpty else {
                throw GatewayConfiguration.Invalid("name: required")
            }
            name = given
            config = TopicConfig(
                partitions: try body.reader.int("partitions", 1...4096) ?? 1,
                retentionMs: try body.reader.int("retentionMs", 1...Int.max).map(Int64.init),
                retentionBytes: try body.reader.int("retentionBytes", 1...Int.max).map(Int64.init),
                classification: try body.reader.string("classification"),
                encryptionRequired: try body.reader.bool("encryptionRequired") ?? false,
                maxRecordBytes: try body.reader.int("maxRecordBytes", 1...(64 << 20)) ?? 1 << 20,
                dlpAction: try body.reader.string("dlp") ?? "reject"
            )
        } catch { throw Problem(.badRequest, "bad-request", "Bad request", error.description) }
        try body.done()
        do throws(LogError) {
            try SQLiteEventLog.validateTopicName(name)
            try config.validate()
        } catch { throw Problem(.badRequest, "bad-request", "Bad request", error.description) }
        let tenant = try AdminRoutes(gateway: gateway).allow(.admin, context, "CreateTopic", resource: "topic:\(name)")
        let log = tenant.services.log
        let created = try await NIOThreadPool.singleton.runIfActive {
            if name.hasSuffix(".dlq") {
                try log.createTopic(name, config: config)
            } else {
                try log.createTopicWithDeadLetters(name, config: config)
            }
            return try log.describeTopic(name)
        }
        var response = try AdminRoutes.encoded(created)
        response.status = .created
        return response
    }
}
#endif
