#if Kafka
import Crypto
import Foundation
import Logging
import Metrics
import MetricsTestKit
import Strongroom
import StrongroomAudit
import StrongroomJSON
import StrongroomKafka
import StrongroomKeys
import StrongroomLog
import StrongroomPolicy
import StrongroomSchema
import StrongroomTestSupport
import Synchronization
import Testing

/// One site of a DR pair: a 3-broker cluster and a data directory (keys, schemas, policy, audit).
private struct Site {
    let cluster: MockKafkaCluster
    let log: KafkaEventLog
    let services: StrongroomServices

    /// A site; `keyring` is the primary's keyring file to copy (a standby), nil for the primary.
    init(
        _ name: String,
        keyring: URL?,
        producerKey: Curve25519.Signing.PublicKey,
        metrics: any MetricsFactory = MetricsSystem.factory
    ) throws {
        // The primary's requests fail fast once it is dead; the standby's may take their time.
        let timeoutMs = keyring == nil ? 3000 : 20_000
        cluster = try MockKafkaCluster(brokers: 3)
        var connection = cluster.connection
        // A dead primary shows as errors within seconds, not after librdkafka's 5-minute default.
        connection.tuning["message.timeout.ms"] = "1500"
        connection.tuning["reconnect.backoff.max.ms"] = "200"
        log = try KafkaEventLog(.init(connection: connection, timeoutMs: timeoutMs))
        let directory = TestSupport.scratchDirectory(name)
        try? FileManager.default.removeItem(at: directory)
        let keys: KeyStore
        if let keyring {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try FileManager.default.copyItem(
                at: keyring,
                to: directory.appendingPathComponent(KeyStore.keyringFileName)
            )
            keys = try KeyStore.open(dataDirectory: directory)
        } else {
            keys = try KeyStore.initialize(dataDirectory: directory)
            try log.replicateKeys(from: keys)
        }
        let root = TestSupport.packageRoot
        let registry = try SchemaRegistry(dataDirectory: directory)
        try registry.register(
            subject: "loan_applications-value",
            schema: try String(
                contentsOf: root.appendingPathComponent("examples/loan_application.schema.json"),
                encoding: .utf8
            ),
            principal: "test"
        )
        services = StrongroomServices(
            keys: keys,
            log: log,
            registry: registry,
            policy: try PolicyEngine(contentsOf: root.appendingPathComponent("examples/policy.json")),
            audit: try AuditLog(dataDirectory: directory),
            tenant: "bfb",
            logger: Logger(label: "failover") { _ in SwiftLogNoOpLogHandler() },
            metrics: metrics,
            // One attempt: a dead primary stops the round's threads at once.
            retry: RetryPolicy(maxAttempts: 1, isTransient: { _ in false })
        )
        services.trust(producer: "pos-terminal", key: producerKey)
    }

    var keyringURL: URL { services.keys.databaseURL.deletingLastPathComponent().appendingPathComponent("keyring.json") }
}

/// What one failover round measured.
private struct Round: CustomStringConvertible {
    var killAfterMs: Int
    var acknowledged = 0
    var notMirrored = 0
    var duplicates = 0
    var handledOnStandby = 0
    var copied = 0
    var erasureMirrored = false

    var description: String {
        "kill at \(killAfterMs) ms: \(acknowledged) acknowledged, \(copied) copied, \(notMirrored) not yet mirrored (lag), "
            + "\(duplicates) re-read on the standby, \(handledOnStandby) handled there, erasure "
            + (erasureMirrored ? "mirrored" : "made after the last pass")
    }
}

@Suite("Secure consumer on Kafka")
struct KafkaConsumerTests {
    @Test("a consumer on Kafka fetches ahead: every record once, in order, up to a last batch that is not full")
    func fetchAheadOnKafka() throws {
        let producerKey = Curve25519.Signing.PrivateKey()
        let metrics = TestMetrics()
        let site = try Site("fetch-ahead-kafka", keyring: nil, producerKey: producerKey.publicKey, metrics: metrics)
        func checkedAhead() -> Int64 {
            (try? metrics.expectCounter("strongroom_consume_checked_ahead_total", [("topic", "loan_applications")]))?
                .values.reduce(0, +) ?? 0
        }
        try site.services.createTopic("loan_applications", config: TopicConfig(partitions: 1))
        let events = DemoWorkload.events(count: 25, seed: 11).map { Array($0.json.utf8) }
        let producer = SecureProducer(
            services: site.services,
            principal: "pos-terminal",
            key: producerKey,
            sourceAddress: PipelineFixture.pos
        )
        #expect(producer.produce(events, to: "loan_applications").allSatisfy { (try? $0.get()) != nil })
        let consumer = SecureConsumer(
            services: site.services,
            principal: "fraud-service",
            purpose: "credit-check",
            group: "fraud-ahead",
            fetchAhead: true
        )
        #expect(consumer.fetchAhead)
        var offsets: [Int64] = []
        var sizes: [Int] = []
        // 10 and 10 (each fetching the next ahead), then the 5 left (fetched ahead, not full), then none.
        while true {
            let n = try consumer.consume(topic: "loan_applications", partition: 0, maxRecords: 10) { batch in
                offsets += batch.map(\.offset)
                #expect(batch.allSatisfy { $0.outcome.decrypted == 3 }, "customer id, ssn, date of birth")
            }
            sizes.append(n)
            if n == 0 { break }
        }
        #expect(sizes == [10, 10, 5, 0])
        #expect(offsets == Array(0..<25))
        #expect(checkedAhead() == 2, "the second and the last batch (not full) came from the fetch ahead")
        #expect(
            try site.services.log.committedOffset(group: "fraud-ahead", topic: "loan_applications", partition: 0) == 25
        )
        #expect(try site.log.firstOffset(topic: "loan_applications", partition: 0) == 0)
    }
}

@Suite("Kafka failover: a primary killed at random points, the group resumes on the standby", .serialized)
struct KafkaFailoverTests {
    static let topic = "loan_applications"
    static let group = "fraud-scoring"
    static let erasedSubject = "CUST-00000001"

    @Test("20 kill points: nothing mirrored is missing, duplicates only after the last checkpoint, every field opens")
    func failover() throws {
        var rounds: [Round] = []
        var generator = SystemRandomNumberGenerator()
        let count = ProcessInfo.processInfo.environment["STRONGROOM_FAILOVER_ROUNDS"].flatMap(Int.init) ?? 20
        for index in 0..<count {
            let killAfter =
                ProcessInfo.processInfo.environment["STRONGROOM_FAILOVER_KILL_MS"].flatMap(Int.init)
                ?? Int.random(in: 300...2500, using: &generator)
            rounds.append(try Self.round(index, killAfterMs: killAfter))
        }
        for (i, round) in rounds.enumerated() { print("failover round \(i + 1): \(round)") }
        let worst = rounds.max { $0.duplicates < $1.duplicates }
        let lag = rounds.max { $0.notMirrored < $1.notMirrored }
        print("failover worst case: duplicates \(worst?.duplicates ?? 0), lag \(lag?.notMirrored ?? 0) records")
        print(
            "failover: the erasure reached the standby before the kill in \(rounds.filter(\.erasureMirrored).count) rounds"
        )
    }

    private static func round(_ index: Int, killAfterMs: Int) throws -> Round {
        let producerKey = Curve25519.Signing.PrivateKey()
        let primary = try Site("failover-\(index)-primary", keyring: nil, producerKey: producerKey.publicKey)
        let standby = try Site(
            "failover-\(index)-standby",
            keyring: primary.keyringURL,
            producerKey: producerKey.publicKey
        )
        try primary.services.createTopic(topic, config: TopicConfig(partitions: 2, classification: "RESTRICTED"))
        // The standby's offsets diverge from the primary's: the topic holds events of its own there.
        try standby.services.createTopic(topic, config: TopicConfig(partitions: 2, classification: "RESTRICTED"))
        let local = DemoWorkload.events(count: 10, seed: 7).map {
            Array($0.json.replacingOccurrences(of: "CUST-", with: "LOCAL-").utf8)
        }
        let producer = SecureProducer(
            services: primary.services,
            principal: "pos-terminal",
            key: producerKey,
            sourceAddress: PipelineFixture.pos
        )
        let localResults = SecureProducer(
            services: standby.services,
            principal: "pos-terminal",
            key: producerKey,
            sourceAddress: PipelineFixture.pos
        ).produce(local, to: topic)
        #expect(localResults.allSatisfy { (try? $0.get()) != nil })

        let events = DemoWorkload.events(count: 6000, seed: UInt64(1000 + index))
        let original = Dictionary(
            events.map { (Self.applicationID(Array($0.json.utf8)), $0) },
            uniquingKeysWith: { first, _ in first }
        )
        let stop = Atomic<Bool>(false)
        // applicationId → when the primary acknowledged it.
        let acknowledged = Mutex<[String: ContinuousClock.Instant]>([:])
        // applicationId → primary (partition, offset), for what the group handled there.
        let handledOnPrimary = Mutex<[String: (Int, Int64)]>([:])
        let passStarts = Mutex<[ContinuousClock.Instant]>([])
        let carried = Mutex<[TopicPartition: KafkaMirror.GroupCheckpoint]>([:])
        let erasedAt = Mutex<ContinuousClock.Instant?>(nil)
        let threads = DispatchGroup()

        let mirrorLog = try KafkaEventLog(standby.log.options)
        // The mirror runs as its own process would: clients of its own on both clusters.
        let mirrorSource = try KafkaEventLog(primary.log.options)
        let mirror = try KafkaMirror(
            from: mirrorSource,
            to: mirrorLog,
            options: .init(groups: [group], checkpointIntervalMs: 200, batch: 10_000, keys: standby.services.keys)
        )
        Self.thread(threads) {
            var next = 0
            while !stop.load(ordering: .relaxed) && next < events.count {
                let batch = events[next..<min(next + 25, events.count)]
                next += batch.count
                let results = producer.produce(batch.map { Array($0.json.utf8) }, to: topic)
                let now = ContinuousClock.now
                for (event, result) in zip(batch, results) where (try? result.get()) != nil {
                    acknowledged.withLock { $0[Self.applicationID(Array(event.json.utf8))] = now }
                }
                if results.contains(where: { if case .failure(let e) = $0 { e.kind == .log } else { false } }) {
                    break
                }
            }
        }
        Self.thread(threads) {
            let consumer = SecureConsumer(
                services: primary.services,
                principal: "fraud-service",
                purpose: "credit-check",
                group: group
            )
            var partition = 0
            while !stop.load(ordering: .relaxed) {
                do {
                    _ = try consumer.consume(topic: topic, partition: partition, maxRecords: 50) { batch in
                        for event in batch {
                            let id = Self.applicationID(event.value)
                            handledOnPrimary.withLock { $0[id] = (event.partition, event.offset) }
                        }
                    }
                } catch { break }
                partition = 1 - partition
            }
        }
        Self.thread(threads) {
            var lastSync = ContinuousClock.now
            while !stop.load(ordering: .relaxed) {
                let started = ContinuousClock.now
                do {
                    try mirror.mirrorOnce()
                    if ContinuousClock.now - lastSync >= .milliseconds(200) {
                        for checkpoint in try mirror.syncGroupOffsets() {
                            carried.withLock { $0[checkpoint.partition] = checkpoint }
                        }
                        lastSync = ContinuousClock.now
                    }
                } catch { break }
                passStarts.withLock { $0.append(started) }
            }
        }
        // Half-way to the kill, a customer is erased on the primary.
        usleep(UInt32(killAfterMs / 2) * 1000)
        _ = try primary.services.keys.erase(subject: erasedSubject, tenant: "bfb")
        try primary.log.publishKeyChanges()
        erasedAt.withLock { $0 = ContinuousClock.now }
        usleep(UInt32(killAfterMs - killAfterMs / 2) * 1000)

        // The primary dies: every broker at once.
        for broker in 1...3 { primary.cluster.setBroker(broker, up: false) }
        let killedAt = ContinuousClock.now
        stop.store(true, ordering: .relaxed)
        #expect(threads.wait(timeout: .now() + 60) == .success, "every thread stopped after the kill")

        // The group resumes on the standby.
        var handledOnStandby: [String: JSONValue] = [:]
        let consumer = SecureConsumer(
            services: standby.services,
            principal: "fraud-service",
            purpose: "credit-check",
            group: group
        )
        for partition in 0..<2 {
            while try consumer.consume(
                topic: topic,
                partition: partition,
                maxRecords: 500,
                handler: { batch in
                    for event in batch {
                        handledOnStandby[Self.applicationID(event.value)] = try JSONValue(parsing: event.value)
                    }
                }
            ) > 0 {}
        }
        // What the mirror copied (applicationId is not PII: it travels in clear).
        var copied: [String] = []
        for partition in 0..<2 {
            var next: Int64 = 0
            while true {
                let page = try standby.log.fetch(
                    topic: topic,
                    partition: partition,
                    from: next,
                    maxBytes: 8 << 20,
                    maxRecords: 2000
                )
                guard let last = page.last else { break }
                copied += page.filter { $0.headers.contains { $0.name == KafkaMirror.sourceHeader } }
                    .map { Self.applicationID($0.value ?? []) }
                next = last.offset + 1
            }
        }
        let mirroredIDs = Set(handledOnStandby.keys).union(handledOnPrimary.withLock { Set($0.keys) })
        let acked = acknowledged.withLock { $0 }
        // Before anything was produced when no pass completed.
        let lastPass = passStarts.withLock { $0.last } ?? (killedAt - .seconds(3600))
        var round = Round(killAfterMs: killAfterMs, acknowledged: acked.count)

        // 1. No acknowledged record missing, within the mirror's lag: every record acknowledged
        //    before the last completed pass began is on the standby and was handled by the group.
        let due = acked.filter { $0.value < lastPass }.map(\.key)
        let missing = due.filter { !mirroredIDs.contains($0) }
        #expect(missing.count == 0, "round \(index): \(missing.count) acknowledged records never reached the group")
        round.notMirrored = acked.keys.filter { !mirroredIDs.contains($0) }.count
        // No gap and nothing dead-lettered: each copied record was handled on one site or the other.
        let skipped = copied.filter { !mirroredIDs.contains($0) }
        #expect(skipped.count == 0, "round \(index): \(skipped.count) copied records neither handled nor re-read")
        #expect(Set(copied).count == copied.count, "round \(index): the mirror copied a record twice")

        // 2. Duplicates only after the last checkpoint carried across.
        let primaryHandled = handledOnPrimary.withLock { $0 }
        let checkpoints = carried.withLock { $0 }
        for id in handledOnStandby.keys {
            guard let (partition, offset) = primaryHandled[id] else { continue }
            round.duplicates += 1
            let carriedFrom = checkpoints[TopicPartition(topic: topic, partition: partition)]?.source ?? 0
            #expect(
                offset >= carriedFrom,
                "round \(index): re-read \(id) at \(offset), before the checkpoint \(carriedFrom)"
            )
        }

        // 3. Every field opens on the standby, or reads as erased for the erased customer.
        let erasureTime = erasedAt.withLock { $0 }
        round.erasureMirrored = erasureTime.map { $0 < lastPass } ?? false
        for (id, value) in handledOnStandby {
            guard let event = original[id] else { continue }
            let ssn = value["ssn"]
            if event.customerID == erasedSubject {
                if round.erasureMirrored {
                    #expect(ssn?["$erased"] == .bool(true), "round \(index): erased on the primary, erased here")
                }
            } else {
                #expect(ssn?.stringValue == event.pii.first, "round \(index): ssn decrypts on the standby")
            }
        }
        round.handledOnStandby = handledOnStandby.count
        round.copied = copied.count
        withExtendedLifetime((primary, standby, mirror, mirrorLog, mirrorSource)) {}
        return round
    }

    /// Runs `body` on a thread of its own: the global dispatch queue runs as many blocks at once as
    /// there are cores, and the producer, consumer and mirror must all run at once.
    static func thread(_ group: DispatchGroup, _ body: @escaping @Sendable () -> Void) {
        group.enter()
        Thread {
            body()
            group.leave()
        }.start()
    }

    static func applicationID(_ json: [UInt8]) -> String {
        (try? JSONValue(parsing: json))?["applicationId"]?.stringValue ?? ""
    }
}
#endif
