import Testing
@testable import Pushgate

@Suite("Topic scheme")
struct TopicSchemeTests {
    @Test("every topic and filter, in a set and without, under a one- and a two-level prefix")
    func shapes() {
        let set = SubscriptionSet.make(now: 1)
        let member = Subscription.make(restrictionKey: nil, now: 1, set: set)
        let legacy = Subscription.make(restrictionKey: nil, now: 1)
        let (s, m, l) = (set.topicID.rawValue, member.topicID.rawValue, legacy.topicID.rawValue)
        for prefix in ["webpush", "site/a/push"] {
            let topics = TopicScheme(prefix: prefix)
            #expect(topics.messageTopic(member, urgency: .high) == "\(prefix)/\(s)/\(m)/high")
            #expect(topics.messageTopic(legacy, urgency: .veryLow) == "\(prefix)/\(l)/very-low")
            #expect(topics.deviceFilter(member) == "\(prefix)/\(s)/\(m)/#")
            #expect(topics.deviceFilter(legacy) == "\(prefix)/\(l)/#")
            #expect(topics.setFilter(set) == "\(prefix)/\(s)/#")
            #expect(topics.ackTopic(member.topicID, set: set.topicID) == "\(prefix)/ack/\(s)/\(m)")
            #expect(topics.ackTopic(legacy.topicID, set: nil) == "\(prefix)/ack/\(l)")
            #expect(topics.ackTopic(set: set.topicID) == "\(prefix)/ack/\(s)")
            #expect(topics.topicID(inAckTopic: topics.ackTopic(member.topicID, set: set.topicID)) == member.topicID)
            #expect(topics.topicID(inAckTopic: topics.ackTopic(set: set.topicID)) == set.topicID)
            #expect(topics.topicID(inAckTopic: "\(prefix)/\(s)/\(m)") == nil)
        }
    }
}
