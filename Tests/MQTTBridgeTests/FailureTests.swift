import Foundation
@testable import MQTTBridge
import Testing

/// The broker going away, refusing, or rejecting: clear errors, never a false success.
@Suite("MQTTBridge failures", .serialized)
struct FailureTests {
    @Test("broker paused then killed: publishes awaiting PUBACK all fail, none succeeds")
    func noSuccessWithoutPuback() async throws {
        let broker = try TestBroker()
        let bridge = MQTTBridge.running(broker.bridgeConfiguration())
        try await bridge.waitUntilConnected()
        try await bridge.publish(topic: "p/warmup", payload: [0])

        broker.pause()  // connection stays up, but no PUBACK will come
        let outcomes = Task {
            await withTaskGroup(of: Result<Void, MQTTBridgeError>.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        do throws(MQTTBridgeError) {
                            try await bridge.publish(topic: "p/\(index)", payload: [1, 2, 3])
                            return .success(())
                        } catch {
                            return .failure(error)
                        }
                    }
                }
                return await group.reduce(into: [Result<Void, MQTTBridgeError>]()) { $0.append($1) }
            }
        }
        #expect(await eventually { bridge.statistics.inFlight == 200 })
        broker.kill()
        let results = await outcomes.value
        #expect(results.count == 200)
        let successes = results.filter { if case .success = $0 { true } else { false } }.count
        #expect(successes == 0)
        for case .failure(let error) in results {
            #expect(error == .connectionLost)
        }
        #expect(bridge.statistics.inFlight == 0)
        await bridge.shutdown(deadline: .milliseconds(100))
    }

    @Test("broker killed mid-stream: fail fast while down, reconnect, restore subscriptions, resume")
    func selfHealing() async throws {
        let broker = try TestBroker()
        let publisher = MQTTBridge.running(broker.bridgeConfiguration())
        let subscriber = MQTTBridge.running(broker.bridgeConfiguration())
        try await publisher.waitUntilConnected()
        try await subscriber.waitUntilConnected()
        let received = Counter()
        try await subscriber.subscribe("heal/#") { _ in received.increment() }

        // A stream of publishes while the broker dies.
        let stream = Task {
            var succeeded = 0, failed = 0
            for index in 0..<2_000 {
                do throws(MQTTBridgeError) {
                    try await publisher.publish(topic: "heal/\(index)", payload: [UInt8](repeating: 1, count: 512))
                    succeeded += 1
                } catch {
                    // Lost in flight (may have arrived) or refused while down (not sent).
                    let expected = if case .brokerUnavailable = error { true } else { error == .connectionLost }
                    #expect(expected, "\(error)")
                    failed += 1
                }
            }
            return [succeeded, failed]
        }
        try await Task.sleep(for: .milliseconds(30))
        broker.kill()
        let counts = await stream.value
        let (succeeded, failed) = (counts[0], counts[1])
        #expect(succeeded + failed == 2_000)
        #expect(failed > 0)
        #expect(await eventually { !publisher.isConnected })
        if case .disconnected = publisher.state {} else { Issue.record("state is \(publisher.state)") }

        // While down, a publish fails at once with "broker unavailable".
        let started = ContinuousClock.now
        await #expect(throws: MQTTBridgeError.self) { try await publisher.publish(topic: "heal/down", payload: [1]) }
        #expect(ContinuousClock.now - started < .milliseconds(50))
        do {
            try await publisher.publish(topic: "heal/down", payload: [1])
        } catch {
            guard case .brokerUnavailable = error else { Issue.record("expected brokerUnavailable, got \(error)"); return }
        }

        // Back on the same port: both reconnect by themselves; the subscription is restored.
        try broker.start()
        try await publisher.waitUntilConnected(timeout: .seconds(10))
        try await subscriber.waitUntilConnected(timeout: .seconds(10))
        let before = received.count
        try await Task.sleep(for: .milliseconds(100))  // the restored SUBACK
        for index in 0..<50 { try await publisher.publish(topic: "heal/after/\(index)", payload: [2]) }
        #expect(await eventually { received.count == before + 50 })
        #expect(publisher.statistics.connects == 2)
        #expect(publisher.statistics.disconnects == 1)
        await publisher.shutdown()
        await subscriber.shutdown()
    }

    @Test("a broker that refuses the credentials: a clear error, publishes refused")
    func badCredentials() async throws {
        let passwords = FileManager.default.temporaryDirectory.appendingPathComponent("pw-\(UUID().uuidString)").path
        try run("/usr/bin/mosquitto_passwd", ["-b", "-c", passwords, "gateway", "right-password"])
        defer { try? FileManager.default.removeItem(atPath: passwords) }
        let broker = try TestBroker(extraConfig: "password_file \(passwords)\nallow_anonymous false")
        var wrong = broker.bridgeConfiguration()
        wrong.username = "gateway"
        wrong.password = "wrong-password"
        let refused = MQTTBridge.running(wrong)
        do {
            try await refused.waitUntilConnected(timeout: .seconds(2))
            Issue.record("connected with a wrong password")
        } catch {
            #expect(error.description.contains("connection refused"), "\(error)")
            #expect(error.description.lowercased().contains("not authorized") || error.description.contains("Bad user name or password"), "\(error)")
        }
        await #expect(throws: MQTTBridgeError.self) { try await refused.publish(topic: "x", payload: [1]) }
        await refused.shutdown()

        var right = broker.bridgeConfiguration()
        right.username = "gateway"
        right.password = "right-password"
        let accepted = MQTTBridge.running(right)
        try await accepted.waitUntilConnected()
        try await accepted.publish(topic: "x", payload: [1])
        await accepted.shutdown()
    }

    @Test("a publish larger than the broker's max_packet_size is a clear error; the connection survives")
    func oversize() async throws {
        let broker = try TestBroker(extraConfig: "max_packet_size 2000")
        let bridge = MQTTBridge.running(broker.bridgeConfiguration())
        try await bridge.waitUntilConnected()
        await #expect(throws: MQTTBridgeError.packetTooLarge) {
            try await bridge.publish(topic: "big", payload: [UInt8](repeating: 0, count: 4096))
        }
        try await bridge.publish(topic: "small", payload: [UInt8](repeating: 0, count: 1000))
        #expect(bridge.isConnected)
        await bridge.shutdown()
    }

    @Test("a publish the broker's ACL denies fails with the MQTT 5 reason code")
    func notAuthorized() async throws {
        let broker = try TestBroker(acl: "topic readwrite allowed/#")
        let bridge = MQTTBridge.running(broker.bridgeConfiguration())
        try await bridge.waitUntilConnected()
        try await bridge.publish(topic: "allowed/x", payload: [1])
        do {
            try await bridge.publish(topic: "forbidden/x", payload: [1])
            Issue.record("a denied publish reported success")
        } catch {
            #expect(error == .rejected(reasonCode: 0x87, reason: "Not authorized"), "\(error)")
        }
        await bridge.shutdown()
    }

    @Test("TLS with a test CA: connects and publishes; an untrusted CA cannot connect")
    func tls() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
        let openssl = "/usr/bin/openssl"
        for name in ["ca", "other-ca"] {
            try run(openssl, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                              "-subj", "/CN=Pushgate Test \(name)", "-keyout", path("\(name).key"), "-out", path("\(name).pem")])
        }
        try run(openssl, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1",
                          "-keyout", path("server.key"), "-out", path("server.csr")])
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: path("san.ext"), atomically: true, encoding: .utf8)
        try run(openssl, ["x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
                          "-CAcreateserial", "-days", "2", "-extfile", path("san.ext"), "-out", path("server.pem")])
        // mosquitto drops to its own user before reading the key: make the test key readable.
        chmod(path("server.key"), 0o644)
        let tlsPort = try TestBroker.freePort()
        let broker = try TestBroker(extraConfig: """
            listener \(tlsPort) 127.0.0.1
            cafile \(path("ca.pem"))
            certfile \(path("server.pem"))
            keyfile \(path("server.key"))
            """)
        #expect(await eventually { TestBroker.isListening(tlsPort) })

        var trusted = MQTTBridgeConfiguration(host: "127.0.0.1", port: tlsPort, clientID: "tls-ok")
        trusted.tls = .init(caFile: path("ca.pem"))
        let bridge = MQTTBridge.running(trusted)
        try await bridge.waitUntilConnected()
        try await bridge.publish(topic: "secure/1", payload: [1, 2, 3])
        await bridge.shutdown()

        var untrusted = trusted
        untrusted.clientID = "tls-bad"
        untrusted.tls = .init(caFile: path("other-ca.pem"))
        let refused = MQTTBridge.running(untrusted)
        await #expect(throws: MQTTBridgeError.self) { try await refused.waitUntilConnected(timeout: .seconds(2)) }
        await refused.shutdown()
        _ = broker
    }

    @Test("shutdown drains in-flight publishes, joins the network thread and leaks no thread")
    func shutdownDrains() async throws {
        let broker = try TestBroker()
        let bridge = MQTTBridge.running(broker.bridgeConfiguration())
        try await bridge.waitUntilConnected()
        let inFlight = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<500 { group.addTask { try await bridge.publish(topic: "drain/\(index)", payload: [1]) } }
                try await group.waitForAll()
            }
        }
        #expect(await eventually { bridge.statistics.published + bridge.statistics.inFlight > 0 })
        await bridge.shutdown(deadline: .seconds(5))
        // Publishes accepted before shutdown were drained, not dropped; later ones were refused.
        let drained = await inFlight.result
        if case .failure(let error) = drained { #expect((error as? MQTTBridgeError) == .shutDown, "\(error)") }
        #expect(bridge.state == .shutDown)
        #expect(bridge.statistics.inFlight == 0)
        await #expect(throws: MQTTBridgeError.shutDown) { try await bridge.publish(topic: "late", payload: [1]) }
        // The bridge's event loop thread and connection thread are gone (named per bridge).
        let name = bridge.core.threadName
        func threadNames() -> [String] {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
            return tasks.compactMap { try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8) }
                .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        }
        #expect(await eventually { !threadNames().contains(name) && !threadNames().contains(name + "c") })
    }

    @Test("a cluster's nodes in turn: a dead first node is skipped; losing the node in use moves to the next")
    func failoverAcrossNodes() async throws {
        let first = try TestBroker(), second = try TestBroker()
        let deadPort = try TestBroker.freePort()
        var nodes = first.bridgeConfiguration()
        nodes.port = deadPort
        nodes.failover = [MQTTBrokerAddress(host: "127.0.0.1", port: first.port), MQTTBrokerAddress(host: "127.0.0.1", port: second.port)]
        let bridge = MQTTBridge.running(nodes)
        try await bridge.waitUntilConnected(timeout: .seconds(10))
        try await bridge.publish(topic: "failover/1", payload: [1])
        #expect(bridge.statistics.connects == 1)
        first.kill()
        #expect(await eventually { bridge.statistics.connects == 2 && bridge.isConnected }, "reconnected, to the second node (the first is gone)")
        try await bridge.publish(topic: "failover/2", payload: [2])
        await bridge.shutdown(deadline: .milliseconds(100))
        second.kill()
    }

    @Test("two bridges with one client id: the evicted one backs off instead of taking the session straight back")
    func takeoverBackoff() async throws {
        let broker = try TestBroker()
        var shared = broker.bridgeConfiguration(id: "same-id")
        shared.takeoverBackoffMilliseconds = 60_000
        let a = MQTTBridge.running(shared)
        try await a.waitUntilConnected()
        let b = MQTTBridge.running(shared)
        try await Task.sleep(for: .seconds(3))
        // Without the backoff they evict each other every few hundred milliseconds (the
        // reconnect delay here is at most 200 ms): dozens of connects in 3 s.
        let connects = a.statistics.connects + b.statistics.connects
        #expect(connects <= 8, "\(connects) connects in 3 s")
        #expect(a.statistics.takeovers + b.statistics.takeovers >= 1)
        await a.shutdown(deadline: .milliseconds(100))
        await b.shutdown(deadline: .milliseconds(100))
    }
}

/// A broker that is alive to TCP but answers nothing (SIGSTOP): publishes fail at their deadline
/// instead of hanging, the queue in front of the window is bounded, and the bridge says it is
/// stalled until the broker answers again (issue 15 #2).
@Suite("MQTTBridge with a hung broker", .serialized)
struct HungBrokerTests {
    /// The error `body` throws, or `nil`.
    static func failure(_ body: @Sendable () async throws(MQTTBridgeError) -> MQTTPublishAck) async -> MQTTBridgeError? {
        do throws(MQTTBridgeError) {
            _ = try await body()
            return nil
        } catch {
            return error
        }
    }

    @Test("deadline: timedOut (may arrive) for what was sent, overloaded (not sent) for what waited; bounded waiting; recovery")
    func hungBroker() async throws {
        let broker = try TestBroker()
        var configuration = MQTTBridgeConfiguration(host: "127.0.0.1", port: broker.port, clientID: "hung-\(UUID().uuidString.prefix(6))")
        configuration.maxInflight = 1
        configuration.maxWaitingPublishes = 1
        configuration.publishTimeoutMilliseconds = 400
        configuration.keepAliveSeconds = 60
        let bridge = MQTTBridge.running(configuration)
        try await bridge.waitUntilConnected()
        try await bridge.publish(topic: "hung/ok", payload: [1])
        broker.pause()
        defer { broker.resume() }

        let started = ContinuousClock.now
        async let sent = Self.failure { () throws(MQTTBridgeError) in try await bridge.publish(topic: "hung/a", payload: [1]) }
        try await Task.sleep(for: .milliseconds(50))
        async let waiting = Self.failure { () throws(MQTTBridgeError) in try await bridge.publish(topic: "hung/b", payload: [2]) }
        try await Task.sleep(for: .milliseconds(50))
        await #expect(throws: MQTTBridgeError.overloaded) { try await bridge.publish(topic: "hung/c", payload: [3]) }  // the queue is full
        #expect(await sent == .timedOut)
        #expect(await waiting == .overloaded)
        #expect(ContinuousClock.now - started < .seconds(3), "failed at the deadline, not at the keepalive")
        #expect(bridge.isStalled && bridge.isConnected)

        broker.resume()
        try await Task.sleep(for: .milliseconds(500))
        #expect(!bridge.isStalled)
        try await bridge.publish(topic: "hung/after", payload: [4])   // the abandoned slot came back
        await bridge.shutdown()
    }
}
