/// Why an ``MQTTBridge`` operation failed.
public enum MQTTBridgeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Not connected to the broker: the message was **not** sent. Retry later.
    case brokerUnavailable(String)
    /// The connection dropped after the message was handed to the broker connection but before
    /// its PUBACK arrived: it may or may not have reached the broker (at-least-once).
    case connectionLost
    /// The broker answered the publish or subscribe with a failure reason code (MQTT 5), for
    /// example 0x87 "not authorized" or 0x97 "quota exceeded".
    case rejected(reasonCode: Int, reason: String)
    /// The message is larger than the broker accepts (its Maximum Packet Size).
    case packetTooLarge
    /// The topic or filter is invalid (wildcards in a topic, empty, not UTF-8).
    case invalidTopic(String)
    /// The MQTT client could not carry out the operation (an internal failure, with its text).
    case client(code: Int, message: String)
    /// The bridge is shutting down or shut down.
    case shutDown
    /// The publish was handed to the broker but not acknowledged within the publish timeout: it
    /// may still arrive (at-least-once).
    case timedOut
    /// Too many publishes are waiting for the window (or one waited past the timeout without
    /// being sent): **not** sent.
    case overloaded
    /// The caller's task was cancelled (the HTTP request it served was reset) before the message
    /// was handed to the broker connection: **not** sent.
    case cancelled

    public var description: String {
        switch self {
        case .brokerUnavailable(let why): "MQTT broker unavailable: \(why)"
        case .connectionLost: "MQTT connection lost before the broker acknowledged (outcome unknown)"
        case .rejected(let code, let reason): "MQTT broker rejected it: \(reason) (0x\(String(code, radix: 16)))"
        case .packetTooLarge: "message exceeds the broker's maximum packet size"
        case .invalidTopic(let topic): "invalid MQTT topic '\(topic)'"
        case .client(let code, let message): "MQTT client error \(code): \(message)"
        case .shutDown: "MQTT bridge is shut down"
        case .timedOut: "the MQTT broker did not acknowledge in time (the message may still arrive)"
        case .overloaded: "too many publishes waiting for the MQTT broker (not sent)"
        case .cancelled: "cancelled before it was sent"
        }
    }
}
