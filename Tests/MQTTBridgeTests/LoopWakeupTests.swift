import Foundation
@testable import MQTTBridge
import Synchronization
import Testing

/// The network loop's wake-up: however signals and drains interleave, a signal after queued
/// work always wakes the loop (a lost one would leave the work until the 100 ms poll timeout).
@Suite("Loop wake-up")
struct LoopWakeupTests {
    /// Waits for the wake-up's descriptor to become readable, as the loop's poll() does.
    static func woken(_ wakeup: LoopWakeup, withinMilliseconds timeout: Int32) -> Bool {
        var descriptor = pollfd(fd: wakeup.descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, timeout) == 1
    }

    @Test("4 threads signalling 200,000 times while one loop drains, five rounds: the loop never sleeps through queued work",
          arguments: 1...5)
    func noLostWakeups(round: Int) async throws {
        let wakeup = LoopWakeup()
        try #require(wakeup.isAvailable)
        let queued = Atomic<Int>(0), taken = Atomic<Int>(0), stalls = Atomic<Int>(0), done = Atomic<Bool>(false)
        let loop = Thread {
            // The network loop's shape: sleep until woken (or a timeout), drain, take what is queued.
            while !done.load(ordering: .acquiring) {
                if !Self.woken(wakeup, withinMilliseconds: 50) {
                    // Queued work and no wake-up: one was lost. Take it anyway, to go on counting.
                    if queued.load(ordering: .acquiring) > taken.load(ordering: .acquiring) { stalls.add(1, ordering: .relaxed) }
                } else {
                    wakeup.drain()
                }
                taken.store(queued.load(ordering: .acquiring), ordering: .releasing)
            }
        }
        loop.start()
        // Publishers: queue one item and signal, four at once and without pause, so that signals
        // keep landing while the loop drains (the race a lost wake-up needs).
        let publishers = (0..<4).map { _ in
            Thread {
                for _ in 0..<50_000 {
                    queued.add(1, ordering: .acquiringAndReleasing)
                    wakeup.signal()
                }
            }
        }
        for publisher in publishers { publisher.start() }
        let deadline = Date().addingTimeInterval(60)
        while taken.load(ordering: .acquiring) < 200_000, Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
        done.store(true, ordering: .releasing)
        #expect(taken.load(ordering: .acquiring) == 200_000)
        #expect(stalls.load(ordering: .relaxed) == 0, "the loop slept through queued work")
    }
}
