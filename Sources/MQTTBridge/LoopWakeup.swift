import CMosquitto
import Synchronization

/// Wakes the network thread when a publisher has queued a packet — at most once per turn of the
/// loop, however many publishes arrive meanwhile.
///
/// libmosquitto's own wake-up (a byte written to an internal socket pair by every
/// `mosquitto_publish`) made the loop turn once per publish: a `pselect`, a one-byte `read` and
/// a `write` of one packet each time. With this one the loop wakes once, writes every packet
/// queued since the last turn in one pass, and goes back to sleep.
final class LoopWakeup: Sendable {
    /// The eventfd, or -1 where there is none (the loop then keeps to `mosquitto_loop`).
    let descriptor: Int32
    /// A wake-up is written and not yet drained: further signals are free.
    private let pending = Atomic<Bool>(false)

    init() { descriptor = pushgate_wakeup_open() }

    deinit { if descriptor >= 0 { pushgate_wakeup_close(descriptor) } }

    /// Whether the loop can wait on this instead of `mosquitto_loop`.
    var isAvailable: Bool { descriptor >= 0 }

    /// After queueing a packet: make sure the loop turns soon.
    func signal() {
        guard descriptor >= 0, !pending.exchange(true, ordering: .acquiringAndReleasing) else { return }
        pushgate_wakeup_signal(descriptor)
    }

    /// Before the loop writes what is queued: later packets signal again.
    ///
    /// The count is read before the flag is cleared: the other way round, a signal landing in
    /// between would be read away while the flag stays set, and every later signal would be
    /// skipped — the loop would then only turn on traffic or its 100 ms timeout.
    func drain() {
        pushgate_wakeup_drain(descriptor)
        pending.store(false, ordering: .sequentiallyConsistent)
    }
}
