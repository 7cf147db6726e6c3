import Foundation
import Logging
@testable import MQTTBridge
import ServiceLifecycle
import Testing

/// The connection state machine alone (no broker), and the bridge as a `Service`.
@Suite("Connection state machine")
struct ConnectionStateMachineTests {
    /// The machine only carries the handle of a live connection; a number stands in for it.
    let handle = 42

    @Test("idle → connecting → connected → lost → connecting (last failure kept) → connected")
    func lifecycle() throws {
        var machine = ConnectionStateMachine<Int>()
        #expect(machine.publicState == .disconnected(reason: "not started"))
        #expect(throws: MQTTBridgeError.brokerUnavailable("disconnected (not started)")) { try machine.handleForUse() }
        let step1 = machine.attemptStarted()
        #expect(step1)
        #expect(machine.publicState == .connecting)
        let step2 = machine.connackAccepted(handle)
        #expect(step2)
        #expect(machine.publicState == .connected)
        #expect(try machine.handleForUse() == handle)
        let step3 = machine.connectionEnded(reason: "EOF")
        #expect(step3)
        let again = machine.connectionEnded(reason: "again")
        #expect(!again, "idempotent: a second report is not a second loss")
        #expect(machine.publicState == .disconnected(reason: "EOF"))
        let step4 = machine.attemptStarted()
        #expect(step4)
        #expect(machine.publicState == .disconnected(reason: "EOF"), "the last failure stays visible while retrying")
        let step5 = machine.connackAccepted(handle)
        #expect(step5)
        #expect(machine.publicState == .connected)
    }

    @Test("a refused attempt is not a lost connection; publishing while connecting is refused at once")
    func refused() {
        var machine = ConnectionStateMachine<Int>()
        let step6 = machine.attemptStarted()
        #expect(step6)
        #expect(throws: MQTTBridgeError.brokerUnavailable("connecting")) { try machine.handleForUse() }
        let step7 = machine.connectionEnded(reason: "connection refused: not authorized")
        #expect(!step7)
        #expect(machine.publicState == .disconnected(reason: "connection refused: not authorized"))
    }

    @Test("shutdown: the live handle is handed back once, publishes get .shutDown, no new attempt starts")
    func shutdown() {
        var machine = ConnectionStateMachine<Int>()
        let step8 = machine.attemptStarted()
        #expect(step8)
        let step9 = machine.connackAccepted(handle)
        #expect(step9)
        let step10 = machine.shutdownRequested()
        #expect(step10 == handle)
        let step11 = machine.shutdownRequested()
        #expect(step11 == nil)
        #expect(machine.isShuttingDown)
        #expect(throws: MQTTBridgeError.shutDown) { try machine.handleForUse() }
        let step12 = machine.attemptStarted()
        #expect(!step12)
        let step13 = machine.connackAccepted(handle)
        #expect(!step13)
        machine.threadExited()
        #expect(machine.publicState == .shutDown)
    }

    @Test("as a Service: run() connects, and graceful shutdown of its group ends it and its thread")
    func service() async throws {
        let broker = try TestBroker()
        var configuration = MQTTBridgeConfiguration(host: "127.0.0.1", port: broker.port, clientID: "svc-\(UUID().uuidString.prefix(6))")
        configuration.reconnectInitialDelayMilliseconds = 20
        let bridge = MQTTBridge(configuration: configuration)
        #expect(!bridge.isConnected, "nothing connects before run()")
        let group = ServiceGroup(configuration: .init(services: [.init(service: bridge)], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await bridge.waitUntilConnected(timeout: .seconds(5))
            try await bridge.publish(topic: "svc/t", payload: [1, 2, 3])
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(bridge.state == .shutDown)
        await #expect(throws: MQTTBridgeError.shutDown) { try await bridge.publish(topic: "svc/t", payload: [1]) }
    }

    @Test("withRunning: the bridge runs for the block and is shut down after it")
    func withRunning() async throws {
        let broker = try TestBroker()
        let bridge = MQTTBridge(configuration: MQTTBridgeConfiguration(host: "127.0.0.1", port: broker.port, clientID: "wr-\(UUID().uuidString.prefix(6))"))
        let ack = try await bridge.withRunning { bridge in
            try await bridge.waitUntilConnected(timeout: .seconds(5))
            return try await bridge.publish(topic: "wr/t", payload: [9])
        }
        #expect(ack.reasonCode < 0x80)
        #expect(bridge.state == .shutDown)
    }
}
