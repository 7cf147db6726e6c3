@testable import MQTTBridge
import Testing

/// The publish window alone: FIFO hand-over, the bounded queue, and cancelled waiters leaving
/// it (a reset HTTP request must not keep its place or its memory).
@Suite("Publish window")
struct PublishWindowTests {
    /// Waits until `count` publishers are queued.
    private func waitUntilQueued(_ window: PublishWindow, _ count: Int) async {
        while window.waiting < count { await Task.yield() }
    }

    @Test("a full window queues in FIFO order and hands each released slot to the oldest waiter")
    func fifo() async throws {
        let window = PublishWindow(capacity: 1)
        try await window.acquire()
        let order = Locked<[Int]>([])
        let first = Task { try await window.acquire(); order.withLock { $0.append(1) } }
        await waitUntilQueued(window, 1)
        let second = Task { try await window.acquire(); order.withLock { $0.append(2) } }
        await waitUntilQueued(window, 2)
        window.release()
        try await first.value
        window.release()
        try await second.value
        #expect(order.withLock { $0 } == [1, 2])
        #expect(window.waiting == 0)
    }

    @Test("past maxWaiting a publisher is refused at once with overloaded")
    func bounded() async throws {
        let window = PublishWindow(capacity: 1, maxWaiting: 1)
        try await window.acquire()
        let queued = Task { try await window.acquire() }
        await waitUntilQueued(window, 1)
        await #expect(throws: MQTTBridgeError.overloaded) { try await window.acquire() }
        window.release()
        try await queued.value
    }

    @Test("a cancelled waiter leaves the queue at once; the slot goes to the next one")
    func cancellation() async throws {
        let window = PublishWindow(capacity: 1, maxWaiting: 2)
        try await window.acquire()
        let cancelled = Task { try await window.acquire() }
        await waitUntilQueued(window, 1)
        let next = Task { try await window.acquire() }
        await waitUntilQueued(window, 2)
        cancelled.cancel()
        await #expect(throws: MQTTBridgeError.cancelled) { try await cancelled.value }
        #expect(window.waiting == 1)
        // Its place is free: another publisher may queue although maxWaiting is 2.
        let third = Task { try await window.acquire() }
        await waitUntilQueued(window, 2)
        window.release()
        try await next.value          // the oldest waiter still waiting, not the cancelled one
        window.release()
        try await third.value
        #expect(window.waiting == 0)
    }

    @Test("an already-cancelled task does not wait and does not take a slot")
    func cancelledBeforehand() async throws {
        let window = PublishWindow(capacity: 1)
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await window.acquire()
        }
        await #expect(throws: MQTTBridgeError.cancelled) { try await task.value }
        try await window.acquire()    // the one slot is still free
    }

    @Test("waiters past the publish timeout fail as overloaded, newer ones keep waiting")
    func expiry() async throws {
        let window = PublishWindow(capacity: 1)
        try await window.acquire()
        let old = Task { try await window.acquire() }
        await waitUntilQueued(window, 1)
        let cutoff = ContinuousClock.now
        try await Task.sleep(for: .milliseconds(5))
        let young = Task { try await window.acquire() }
        await waitUntilQueued(window, 2)
        window.failWaiters(enqueuedBefore: cutoff)
        await #expect(throws: MQTTBridgeError.overloaded) { try await old.value }
        #expect(window.waiting == 1)
        window.release()
        try await young.value
    }

    @Test("a chunk waits for all its slots at once, and single publishes queue behind it (FIFO)")
    func chunks() async throws {
        let window = PublishWindow(capacity: 4)
        try await window.acquire(count: 3)
        let order = Locked<[String]>([])
        let chunk = Task { try await window.acquire(count: 3); order.withLock { $0.append("chunk") } }
        await waitUntilQueued(window, 1)
        let single = Task { try await window.acquire(); order.withLock { $0.append("single") } }
        await waitUntilQueued(window, 2)
        // One slot is free, but the chunk ahead needs three: the single publish keeps waiting.
        try await Task.sleep(for: .milliseconds(20))
        #expect(order.withLock { $0 }.isEmpty)
        window.release(count: 2)               // 3 free: the chunk goes, then nothing fits
        try await chunk.value
        #expect(window.waiting == 1)
        window.release(count: 3)               // the first chunk's slots back: the single goes
        try await single.value
        #expect(order.withLock { $0 } == ["chunk", "single"])
    }

    @Test("lowering the capacity below a waiting chunk shrinks the chunk instead of stranding it")
    func shrink() async throws {
        let window = PublishWindow(capacity: 8)
        try await window.acquire(count: 8)
        let chunk = Task { try await window.acquire(count: 8) }
        await waitUntilQueued(window, 1)
        window.setCapacity(2)
        window.release(count: 8)
        try await chunk.value
        #expect(window.waiting == 0)
    }
}
