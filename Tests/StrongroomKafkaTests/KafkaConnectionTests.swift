import Foundation
import StrongroomKafka
import Testing

@Suite("Kafka connection settings")
struct KafkaConnectionTests {
    func refused(_ connection: KafkaConnection, _ fragment: String) {
        do {
            try connection.validate()
            Issue.record("accepted: \(connection)")
        } catch {
            #expect(error.description.contains(fragment), "\(error.description)")
        }
    }

    @Test("plaintext listeners are refused unless allowed; SASL and TLS settings are checked up front")
    func validation() throws {
        refused(KafkaConnection(bootstrapServers: "b:9092", securityProtocol: .plaintext), "--allow-plaintext")
        refused(KafkaConnection(bootstrapServers: "b:9092", securityProtocol: .saslPlaintext), "--allow-plaintext")
        try KafkaConnection(bootstrapServers: "b:9092", securityProtocol: .plaintext, allowPlaintext: true).validate()
        refused(KafkaConnection(bootstrapServers: "", securityProtocol: .ssl), "empty")
        refused(KafkaConnection(bootstrapServers: "b", securityProtocol: .ssl), "host:port")
        refused(KafkaConnection(bootstrapServers: "b:99999", securityProtocol: .ssl), "host:port")
        refused(KafkaConnection(bootstrapServers: "b:9093", securityProtocol: .saslSSL), "needs sasl.mechanism")
        var scram = KafkaConnection(bootstrapServers: "b:9093", securityProtocol: .saslSSL, saslMechanism: .scramSHA512)
        refused(scram, "sasl.username")
        scram.saslUsername = "pos"
        refused(scram, "sasl.password")
        scram.saslPassword = "s3cret-value"
        try scram.validate()
        #expect(!scram.description.contains("s3cret-value"), "the password is never printed")
        var oauth = KafkaConnection(bootstrapServers: "b:9093", securityProtocol: .saslSSL, saslMechanism: .oauthBearer)
        oauth.oauthTokenEndpoint = "http://idp.example/token"
        refused(oauth, "https")
        oauth.oauthTokenEndpoint = "https://idp.example/token"
        refused(oauth, "client.id")
        oauth.oauthClientID = "pos"
        oauth.oauthClientSecret = "x"
        try oauth.validate()
        var tls = KafkaConnection(bootstrapServers: "b:9093", securityProtocol: .ssl)
        tls.caLocation = "/nonexistent/ca.pem"
        refused(tls, "cannot read /nonexistent/ca.pem")
        tls.caLocation = nil
        tls.certificateLocation = "/etc/hostname"
        refused(tls, "both ssl.certificate.location and ssl.key.location")
        var tuned = KafkaConnection(bootstrapServers: "b:9093", securityProtocol: .ssl)
        tuned.tuning["enable.ssl.certificate.verification"] = "false"
        refused(tuned, "not a setting Strongroom passes")
        tuned.tuning = ["linger.ms": "10"]
        try tuned.validate()
        var compressed = KafkaConnection(bootstrapServers: "b:9093", securityProtocol: .ssl)
        compressed.compression = "brotli"
        refused(compressed, "compression.type")
    }

    @Test("client.properties in Kafka's format: SCRAM through JAAS, PEM trust stores; unknown keys refused")
    func properties() throws {
        let text = """
            # Confluent Cloud style
            bootstrap.servers=pkc-1.eu-west-1.aws.confluent.cloud:9092
            security.protocol=SASL_SSL
            sasl.mechanism=SCRAM-SHA-512
            sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="pos-eu" password="p@ss=word";
            compression.type=zstd
            linger.ms=5
            """
        let connection = try KafkaConnection.parse(properties: text)
        #expect(connection.bootstrapServers == "pkc-1.eu-west-1.aws.confluent.cloud:9092")
        #expect(connection.securityProtocol == .saslSSL)
        #expect(connection.saslMechanism == .scramSHA512)
        #expect(connection.saslUsername == "pos-eu")
        #expect(connection.saslPassword == "p@ss=word")
        #expect(connection.compression == "zstd")
        #expect(connection.tuning == ["linger.ms": "5"])
        try connection.validate()

        func refusedText(_ text: String, _ fragment: String) {
            do {
                _ = try KafkaConnection.parse(properties: text)
                Issue.record("accepted: \(text)")
            } catch {
                #expect(error.description.contains(fragment), "\(error.description)")
            }
        }
        refusedText("bootstrap.servers=b:1\nssl.endpoint.identification.algorithm=none", "not a setting")
        refusedText("bootstrap.servers=b:1\nssl.truststore.location=/x.jks", "PEM")
        refusedText("bootstrap.servers=b:1\nbootstrap.servers=c:1", "set twice")
        refusedText("security.protocol=SSL", "no bootstrap.servers")
        refusedText("bootstrap.servers=b:1\nsecurity.protocol=TLS", "security.protocol \"TLS\"")
        refusedText(
            "bootstrap.servers=b:1\nsasl.jaas.config=com.sun.security.auth.module.Krb5LoginModule required;",
            "only ScramLoginModule"
        )
        let pem = try KafkaConnection.parse(
            properties:
                "bootstrap.servers=b:1\nsecurity.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location=/ca.pem"
        )
        #expect(pem.caLocation == "/ca.pem")
        let plaintext = try KafkaConnection.parse(properties: "bootstrap.servers=b:1")
        #expect(throws: KafkaConfigurationError.self) { try plaintext.validate() }
    }
}
