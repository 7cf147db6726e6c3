import NIOCore
import NIOEmbedded
@testable import Pushgate
import Testing

/// Reads pause while a connection has caused its limit of work, and resume below it.
@Suite("Read gate")
struct ReadGateTests {
    /// Counts the reads that get past the gate.
    private final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = NIOAny
        var reads = 0
        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    @Test("at the work limit a read is held; when work drops below it, the held read goes out once")
    func gate() throws {
        let channel = EmbeddedChannel()
        let activity = ConnectionActivity(workLimit: 2)
        let counter = ReadCounter()
        try channel.pipeline.syncOperations.addHandler(counter)
        try channel.pipeline.syncOperations.addHandler(ReadGate(activity: activity))
        channel.read()
        #expect(counter.reads == 1)
        activity.workStarted()
        activity.workStarted()
        channel.read()
        channel.read()
        #expect(counter.reads == 1)                  // held
        activity.workFinished()
        #expect(counter.reads == 2)                  // released once, not twice
        activity.workFinished()
        #expect(counter.reads == 2)
        channel.read()
        #expect(counter.reads == 3)
        _ = try channel.finish()
    }
}
