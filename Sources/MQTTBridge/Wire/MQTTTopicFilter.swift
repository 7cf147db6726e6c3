/// Topic filter matching (MQTT 5 §4.7).
package enum MQTTTopicFilter {
    /// Whether `topic` matches `filter`: `+` matches one level, a final `#` the parent level and
    /// everything below it, and a filter starting with a wildcard matches no topic starting
    /// with `$` (§4.7.2).
    package static func matches(_ filter: String, topic: String) -> Bool {
        let filterLevels = filter.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        let topicLevels = topic.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        if topic.utf8.first == UInt8(ascii: "$"), let first = filterLevels.first, first.elementsEqual("+".utf8) || first.elementsEqual("#".utf8) {
            return false
        }
        for (index, level) in filterLevels.enumerated() {
            if level.elementsEqual("#".utf8) { return true }
            guard index < topicLevels.count else { return false }
            if level.elementsEqual("+".utf8) { continue }
            guard level.elementsEqual(topicLevels[index]) else { return false }
        }
        return filterLevels.count == topicLevels.count
    }
}
