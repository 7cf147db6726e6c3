import NIOCore

/// Runs a request's task on its connection's event loop instead of Swift's global pool.
///
/// A push is parsed on the event loop, and its answer is written there. Run on the global pool,
/// every request crossed threads twice more (event loop → pool → event loop), each crossing a
/// wake-up of a sleeping thread — on two cores, the largest single cost in the profile after
/// NIO itself. With this preference the request's non-isolated async code (validation, the
/// registry read, the publish) runs on the loop that read it, and only the broker's
/// acknowledgement, which arrives on the MQTT network thread, crosses back.
///
/// Actors and other isolated code still run on their own executors; awaiting them hops away and
/// back as before.
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    private let eventLoop: any EventLoop

    /// The executor for `eventLoop`'s requests.
    init(_ eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        eventLoop.execute { job.runSynchronously(on: executor) }
    }
}
