import Foundation
import Testing
@testable import Pushgate
import MQTTBridge

@Suite("Configuration")
struct ConfigTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static let minimal = """
        server:
          listen: "127.0.0.1:8080"
          public_url: "http://127.0.0.1:8080"
        mqtt:
          url: "mqtt://127.0.0.1:1883"
        storage:
          path: "registry.sqlite"
        """

    func parse(_ yaml: String) throws(ConfigError) -> PushgateConfig {
        try ConfigLoader.parse(yaml: yaml, file: "test.yaml", directory: NSTemporaryDirectory())
    }

    /// Parses and expects an error at `line` whose message contains `message`.
    func expectError(_ yaml: String, line: Int, column: Int? = nil, message: String, hint: String? = nil,
                     sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try parse(yaml)
            Issue.record("expected an error containing '\(message)'", sourceLocation: sourceLocation)
        } catch {
            #expect(error.file == "test.yaml", sourceLocation: sourceLocation)
            #expect(error.line == line, "\(error)", sourceLocation: sourceLocation)
            if let column { #expect(error.column == column, "\(error)", sourceLocation: sourceLocation) }
            #expect(error.message.contains(message), "\(error)", sourceLocation: sourceLocation)
            if let hint { #expect(error.hint?.contains(hint) == true, "\(error)", sourceLocation: sourceLocation) }
        }
    }

    @Test("the repository's config.yaml is valid and has the documented defaults")
    func shippedConfig() throws {
        let config = try ConfigLoader.load(path: Self.repositoryRoot + "/config.yaml")
        #expect(config.server.listen == HostAndPort(host: "127.0.0.1", port: 8080))
        #expect(config.server.publicURL == "http://127.0.0.1:8080")
        #expect(config.mqtt.host == "127.0.0.1" && config.mqtt.port == 1883 && !config.mqtt.usesTLS)
        #expect(config.mqtt.protocolVersion == .v5)
        #expect(config.storage.path == Self.repositoryRoot + "/pushgate.sqlite")
        #expect(config.limits.maxPayloadBytes == 4096)
        #expect(config.limits.maxTTLSeconds == 2_419_200)
        #expect(config.mqtt.topicPrefix == "webpush")
    }

    @Test("a minimal config gets defaults for everything else")
    func defaults() throws {
        let config = try parse(Self.minimal)
        #expect(config.mqtt.clientID == nil)
        #expect(config.mqtt.ackShareGroup == "pushgate")
        #expect(config.mqtt.keepAliveSeconds == 30)
        #expect(config.mqtt.maxInflight == 4096)
        #expect(config.logging.level == "info")
        #expect(config.server.tls == nil)
        #expect(config.storage.loadWaitMilliseconds == 1000)
    }

    @Test("storage.load_wait_ms: 0 serves at once, a large value waits; a negative one is reported at its line")
    func loadWait() throws {
        let zero = try parse(Self.minimal.replacingOccurrences(of: "path: \"registry.sqlite\"", with: "path: \"registry.sqlite\"\n  load_wait_ms: 0"))
        #expect(zero.storage.loadWaitMilliseconds == 0)
        expectError(Self.minimal.replacingOccurrences(of: "path: \"registry.sqlite\"", with: "path: \"registry.sqlite\"\n  load_wait_ms: -1"),
                    line: 8, message: "load_wait_ms")
    }

    @Test("without mqtt.client_id each instance derives a stable id of its own: host, listen address and registry tell them apart")
    func derivedClientID() throws {
        let a = try parse(Self.minimal)
        let b = try parse(Self.minimal.replacingOccurrences(of: "listen: \"127.0.0.1:8080\"", with: "listen: \"127.0.0.1:8081\""))
        let id = a.mqttClientID(hostname: "gw1.example.net")
        #expect(id.hasPrefix("pushgate-gw1-") && id.count == "pushgate-gw1-".count + 8)
        #expect(a.mqttClientID(hostname: "gw1.example.net") == id, "the same after a restart")
        #expect(a.mqttClientID(hostname: "gw2.example.net") != id)
        #expect(b.mqttClientID(hostname: "gw1.example.net") != id)
        let fixed = try parse(Self.minimal.replacingOccurrences(of: "mqtt://127.0.0.1:1883\"", with: "mqtt://127.0.0.1:1883\"\n  client_id: gate-7"))
        #expect(fixed.mqttClientID(hostname: "gw1") == "gate-7")
    }

    @Test("mqtt.url may list the nodes of a clustered broker; storage.url selects PostgreSQL, without its password in messages")
    func clusterURLs() throws {
        let config = try parse(Self.minimal
            .replacingOccurrences(of: "url: \"mqtt://127.0.0.1:1883\"", with: "url: [\"mqtt://node1:1883\", \"mqtt://node2\", \"mqtt://[::1]:1884\"]")
            .replacingOccurrences(of: "path: \"registry.sqlite\"", with: "url: \"postgres://push:s3cret@db.internal:6432/pushgate?sslmode=require\"\n  pool_size: 20"))
        #expect(config.mqtt.host == "node1" && config.mqtt.port == 1883)
        #expect(config.mqtt.failover == [HostAndPort(host: "node2", port: 1883), HostAndPort(host: "::1", port: 1884)])
        guard case .postgres(let location) = config.storage.backend else {
            Issue.record("expected PostgreSQL")
            return
        }
        #expect(location == PostgresLocation(host: "db.internal", port: 6432, username: "push", password: "s3cret", database: "pushgate",
                                             tls: .require, poolSize: 20))
        #expect(config.storage.displayName == "postgres://push@db.internal:6432/pushgate")
        #expect(config.storage.path == nil)
    }

    @Test("storage needs exactly one of path and url; a bad postgres URL and mixed mqtt schemes are reported at their line")
    func storageAndClusterErrors() {
        expectError(Self.minimal.replacingOccurrences(of: "path: \"registry.sqlite\"", with: "path: \"registry.sqlite\"\n  url: \"postgres://a@b/c\""),
                    line: 8, message: "'path' and 'url' are both set", hint: "PostgreSQL")
        expectError(Self.minimal.replacingOccurrences(of: "path: \"registry.sqlite\"", with: "url: \"mysql://a@b/c\""),
                    line: 7, message: "'url' must be postgres://", hint: "postgres://pushgate@")
        expectError(Self.minimal.replacingOccurrences(of: "path: \"registry.sqlite\"", with: "path: \"registry.sqlite\"\n  pool_size: 4"),
                    line: 8, message: "'pool_size' applies to PostgreSQL")
        expectError(Self.minimal.replacingOccurrences(of: "url: \"mqtt://127.0.0.1:1883\"", with: "url: [\"mqtt://a\", \"mqtts://b\"]"),
                    line: 5, message: "mix mqtt:// and mqtts://")
    }

    @Test("metrics.listen, logging.format and logging.access_log are parsed; a bad format or address is reported at its line")
    func metricsAndLogging() throws {
        let config = try parse(Self.minimal + "\nlogging:\n  format: json\n  access_log: false\nmetrics:\n  listen: \"127.0.0.1:9464\"\n")
        #expect(config.logging.format == .json && !config.logging.accessLog)
        #expect(config.metrics.listen == HostAndPort(host: "127.0.0.1", port: 9464))
        #expect(try parse(Self.minimal).metrics.listen == nil && parse(Self.minimal).logging.accessLog)
        expectError(Self.minimal + "\nlogging:\n  format: xml\n", line: 9, message: "unknown log format 'xml'", hint: "text or json")
        expectError(Self.minimal + "\nmetrics:\n  listen: \"9464\"\n", line: 9, message: "not host:port")
    }

    @Test("rate_limits: defaults on, a limit given or switched off; bad values reported at their line")
    func rateLimits() throws {
        #expect(try parse(Self.minimal).rateLimits.pushesPerSubscription == .init(perSecond: 50, burst: 500))
        let config = try parse(Self.minimal + "\nrate_limits:\n  pushes_per_subscription: off\n  subscribes_per_address: {per_second: 0.5, burst: 3}\n")
        #expect(config.rateLimits.pushesPerSubscription == nil)
        #expect(config.rateLimits.subscribesPerAddress == .init(perSecond: 0.5, burst: 3))
        expectError(Self.minimal + "\nrate_limits:\n  subscribes_per_token: {per_second: 0, burst: 3}\n", line: 9,
                    message: "'per_second' must be above 0", hint: "off")
        expectError(Self.minimal + "\nrate_limits:\n  pushes_per_subscription: sometimes\n", line: 9, message: "is 'sometimes'")
    }

    @Test("values are parsed: IPv6 listen, mqtts default port, 3.1.1, public URL normalized")
    func values() throws {
        let config = try parse(Self.minimal
            .replacingOccurrences(of: "\"127.0.0.1:8080\"\n", with: "\"[::1]:0\"\n")
            .replacingOccurrences(of: "http://127.0.0.1:8080", with: "https://Push.Example.NET/")
            .replacingOccurrences(of: "mqtt://127.0.0.1:1883\"", with: "mqtts://broker.example\"\n  protocol_version: \"3.1.1\""))
        #expect(config.server.listen == HostAndPort(host: "::1", port: 0))
        #expect(config.server.publicURL == "https://push.example.net")
        #expect(config.mqtt.port == 8883 && config.mqtt.usesTLS)
        #expect(config.mqtt.protocolVersion == .v311)
    }

    @Test("a typo'd key is an error at its line, with a suggestion")
    func typo() {
        expectError(Self.minimal.replacingOccurrences(of: "  public_url:", with: "  pubic_url:"),
                    line: 3, column: 3, message: "unknown key 'pubic_url' in 'server'", hint: "did you mean 'public_url'?")
        expectError(Self.minimal + "\nlimits:\n  max_payload: 5000\n", line: 9, column: 3,
                    message: "unknown key 'max_payload' in 'limits'", hint: "did you mean 'max_payload_bytes'?")
        expectError(Self.minimal + "\nmqqt:\n  url: x\n", line: 8, column: 1, message: "unknown key 'mqqt'")
    }

    @Test("bad values name their line and say how to fix them")
    func badValues() {
        expectError(Self.minimal.replacingOccurrences(of: "\"127.0.0.1:8080\"\n", with: "\"127.0.0.1:70000\"\n"),
                    line: 2, message: "port 70000 is outside 0...65535", hint: "1 to 65535")
        expectError(Self.minimal.replacingOccurrences(of: "\"127.0.0.1:8080\"\n", with: "\"localhost\"\n"),
                    line: 2, message: "not host:port")
        expectError(Self.minimal.replacingOccurrences(of: "http://127.0.0.1:8080", with: "ftp://x"),
                    line: 3, message: "not an http(s) URL")
        expectError(Self.minimal.replacingOccurrences(of: "http://127.0.0.1:8080", with: "https://push.example/base"),
                    line: 3, message: "must be an origin")
        expectError(Self.minimal.replacingOccurrences(of: "mqtt://127.0.0.1:1883", with: "http://broker"),
                    line: 5, message: "not an mqtt:// or mqtts:// URL")
        expectError(Self.minimal.replacingOccurrences(of: "mqtt://127.0.0.1:1883", with: "mqtt://user:pw@broker"),
                    line: 5, message: "must not carry credentials", hint: "password_file")
        expectError(Self.minimal.replacingOccurrences(of: "mqtt://127.0.0.1:1883\"", with: "mqtt://b\"\n  keepalive_seconds: 1"),
                    line: 6, message: "outside 5...65535")
        expectError(Self.minimal.replacingOccurrences(of: "mqtt://127.0.0.1:1883\"", with: "mqtt://b\"\n  keepalive_seconds: soon"),
                    line: 6, message: "'keepalive_seconds' must be a whole number, found 'soon'")
        expectError(Self.minimal.replacingOccurrences(of: "mqtt://127.0.0.1:1883\"", with: "mqtt://b\"\n  protocol_version: 4"),
                    line: 6, message: "unknown MQTT protocol version '4'")
        expectError(Self.minimal.replacingOccurrences(of: "mqtt://127.0.0.1:1883\"", with: "mqtt://b\"\n  topic_prefix: \"a/#\""),
                    line: 6, message: "not a valid topic prefix")
        expectError(Self.minimal.replacingOccurrences(of: "mqtt://127.0.0.1:1883\"", with: "mqtt://b\"\n  clean_start: maybe"),
                    line: 6, message: "must be true or false")
        expectError(Self.minimal + "\nlimits:\n  max_payload_bytes: 1000\n", line: 9, message: "outside 4096...1048576")
        expectError(Self.minimal + "\nlogging:\n  level: loud\n", line: 9, message: "unknown log level 'loud'")
    }

    static let appKey = "BGqqHPi8DhTWZ_rr56TtBRO8DD1YoBpYqmPImPH_rMRaQZhc5t631JOOu09eslx1fUMC5VXKWBIgoAy4QrRWkOA"

    @Test("routes: parsed with their keys; every mistake is located on its own entry")
    func routes() throws {
        let two = Self.minimal + """

            routes:
              - name: fleet
                topic: "fleet/all"
                vapid_keys: ["\(Self.appKey)"]
              - name: lamps
                topic: "site/lamps"
                vapid_keys: ["\(Self.appKey)"]
                keys: {p256dh: "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4", auth: "BTBZMqHH6r4Tts7J_aSIgg"}
            """
        let config = try parse(two)
        #expect(config.broadcasts.map(\.name) == ["fleet", "lamps"])
        #expect(config.broadcasts[1].topic == "site/lamps" && config.broadcasts[1].keys?.auth == "BTBZMqHH6r4Tts7J_aSIgg")
        #expect(config.broadcasts[0].vapidKeys.first?.base64URL == Self.appKey)
        #expect(try parse(Self.minimal).broadcasts.isEmpty)

        expectError(two.replacingOccurrences(of: "site/lamps", with: "site/#"), line: 13, message: "contains a wildcard")
        expectError(two.replacingOccurrences(of: "site/lamps", with: "webpush/lamps"), line: 13, message: "below mqtt.topic_prefix")
        expectError(two.replacingOccurrences(of: "name: lamps", with: "name: fleet"), line: 12, message: "'fleet' is used twice")
        expectError(two.replacingOccurrences(of: "name: lamps", with: "name: \"a b\""), line: 12, message: "must be 1 to 64 characters")
        expectError(two.replacingOccurrences(of: "auth: \"BTBZMqHH6r4Tts7J_aSIgg\"", with: "auth: \"AAAA\""), line: 15, message: "not Web Push receiver keys")
        expectError(two + "\n    colour: red\n", line: 16, message: "unknown key 'colour' in 'routes'")
        expectError(Self.minimal + "\nroutes:\n  - name: x\n    topic: t\n", line: 9, message: "needs at least one VAPID public key", hint: "vapid generate")
        expectError(Self.minimal + "\nroutes:\n  - name: x\n    topic: t\n    vapid_keys: [\"nope\"]\n", line: 11, message: "is not a VAPID public key")
    }

    @Test("missing files and required keys are errors")
    func missing() {
        expectError(Self.minimal.replacingOccurrences(of: "  public_url: \"http://127.0.0.1:8080\"\n", with: "  tls:\n    certificate: /nonexistent/cert.pem\n    private_key: /nonexistent/key.pem\n  public_url: \"https://x\"\n"),
                    line: 4, message: "certificate '/nonexistent/cert.pem' does not exist")
        expectError(Self.minimal.replacingOccurrences(of: "  url: \"mqtt://127.0.0.1:1883\"\n", with: "  url: \"mqtt://b\"\n  username: u\n  password_file: missing.txt\n"),
                    line: 7, message: "password file 'missing.txt' does not exist")
        expectError(Self.minimal.replacingOccurrences(of: "  url: \"mqtt://127.0.0.1:1883\"\n", with: "  client_id: x\n"),
                    line: 5, message: "missing required key 'url' in 'mqtt'")
        expectError(Self.minimal.replacingOccurrences(of: "registry.sqlite", with: "/nonexistent-dir/x.sqlite"),
                    line: 7, message: "does not exist", hint: "mkdir -p")
    }

    @Test("YAML syntax errors and empty files are located")
    func syntax() {
        expectError("server:\n  listen: [\n", line: 3, message: "YAML syntax")
        expectError("", line: 1, message: "empty")
        expectError("- a\n- b\n", line: 1, message: "must be a mapping")
    }

    @Test("the password comes from a file or the environment, never silently missing")
    func password() throws {
        let file = NSTemporaryDirectory() + "pushgate-test-password-\(getpid())"
        try "s3cret\nignored\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { unlink(file) }
        let fromFile = try parse(Self.minimal.replacingOccurrences(of: "  url: \"mqtt://127.0.0.1:1883\"\n", with: "  url: \"mqtt://b\"\n  username: u\n  password_file: \(file)\n"))
        #expect(try fromFile.mqtt.password() == "s3cret")
        let fromEnv = try parse(Self.minimal.replacingOccurrences(of: "  url: \"mqtt://127.0.0.1:1883\"\n", with: "  url: \"mqtt://b\"\n  username: u\n  password_env: PG_TEST_PW\n"))
        #expect(try fromEnv.mqtt.password(environment: ["PG_TEST_PW": "x"]) == "x")
        #expect(throws: ConfigError.self) { try fromEnv.mqtt.password(environment: [:]) }
    }
}

@Suite("Config → MQTT bridge settings")
struct BridgeConfigurationTests {
    @Test("the mqtt section maps onto the bridge configuration")
    func mapping() throws {
        let yaml = ConfigTests.minimal.replacingOccurrences(of: "  url: \"mqtt://127.0.0.1:1883\"\n", with: """
              url: "mqtts://broker.example:8884"
              protocol_version: "3.1.1"
              client_id: gw-1
              keepalive_seconds: 15
              clean_start: false
              username: gw
              password_env: PG_PW
              max_inflight: 300

            """)
        let config = try ConfigLoader.parse(yaml: yaml, file: "t.yaml", directory: NSTemporaryDirectory())
        let bridge = try MQTTBridgeConfiguration(config.mqtt, clientID: "derived", environment: ["PG_PW": "pw"])
        #expect(bridge.host == "broker.example" && bridge.port == 8884)
        #expect(bridge.protocolVersion == .v311)
        #expect(bridge.clientID == "gw-1" && bridge.keepAliveSeconds == 15 && !bridge.cleanStart)
        #expect(bridge.username == "gw" && bridge.password == "pw")
        #expect(bridge.tls != nil && bridge.tls?.caFile == nil)
        #expect(bridge.maxInflight == 300)
    }
}
