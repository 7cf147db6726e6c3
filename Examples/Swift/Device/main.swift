// A Web Push device over MQTT in Swift: WebPush for the keys and decryption, MQTTBridge for the
// broker, and WebPushClient's small HTTP client to subscribe.
//
//   swift run pushgate-example-device [--pushgate URL] [--broker HOST:PORT] [--out subscription.json] [--count N]
//                                     [--username NAME [--password P | MQTT_PASSWORD=P]] [--ca-file PEM]
//
// It subscribes at Pushgate, writes {"endpoint", "keys"} for the application server, subscribes
// to its topic, says "ready" (Pushgate then sends what it holds), prints each decrypted message
// and acknowledges it on the MQTT 5 response topic.
import Foundation
import Logging
import MQTTBridge
import WebPushClient
import WebPush

/// Writes a line unbuffered, so "ready" reaches a pipe (scripts, tests) at once.
func say(_ text: String) { FileHandle.standardOutput.write(Data((text + "\n").utf8)) }

func option(_ name: String, _ fallback: String) -> String {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return fallback }
    return arguments[index + 1]
}

let pushgate = option("--pushgate", "http://127.0.0.1:8080")
let broker = option("--broker", "127.0.0.1:1883")
let out = option("--out", "subscription.json")
let count = Int(option("--count", "0")) ?? 0

// 1. Keys of our own: the push service never sees them.
let keys = WebPushReceiverKeys.generate()

// 2. Subscribe at Pushgate.
let response = try await HTTPClient.send(method: "POST", url: "\(pushgate)/subscribe", headers: [], body: [])
guard response.status == 201,
      let subscription = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
      let endpoint = subscription["endpoint"] as? String, let topic = subscription["mqtt_topic"] as? String,
      let ackTopic = subscription["mqtt_ack_topic"] as? String
else {
    FileHandle.standardError.write(Data("subscribe failed: HTTP \(response.status)\n".utf8))
    exit(1)
}
let info = PushSubscriptionInfo(endpoint: endpoint, p256dh: keys.subscriberKeys.p256dh, auth: keys.subscriberKeys.auth)
try JSONEncoder().encode(info).write(to: URL(fileURLWithPath: out))

// 3. Listen on our topic.
let parts = broker.split(separator: ":")
var configuration = MQTTBridgeConfiguration(host: String(parts[0]), port: Int(parts.last!) ?? 1883, clientID: "example-device-\(getpid())")
let username = option("--username", "")
if !username.isEmpty {
    configuration.username = username
    configuration.password = ProcessInfo.processInfo.environment["MQTT_PASSWORD"] ?? option("--password", "")
}
let caFile = option("--ca-file", "")
if !caFile.isEmpty { configuration.tls = .init(caFile: caFile) }
var logger = Logger(label: "device")
logger.logLevel = .warning
let bridge = MQTTBridge(configuration: configuration, logger: logger)
try await bridge.withRunning { bridge in
    try await bridge.waitUntilConnected()
    let (messages, continuation) = AsyncStream.makeStream(of: MQTTMessage.self)
    try await bridge.subscribe(topic) { continuation.yield($0) }
    // "Ready": an empty message without Correlation Data on the acknowledgement topic makes
    // Pushgate send the Topic messages it holds for this subscription.
    try await bridge.publish(topic: ackTopic, payload: [UInt8]())
    say("ready")
    var received = 0
    for await message in messages {
        let urgency = message.topic.split(separator: "/").last ?? ""
        if message.payload.isEmpty {
            say("message (\(urgency)): (empty)")  // a push without a body is legal
        } else {
            do {
                let text = try WebPushCrypto.decrypt(message.payload, with: keys)
                say("message (\(urgency)): \(String(decoding: text, as: UTF8.self))")
            } catch {
                say("undecryptable message: \(error)")
            }
        }
        if let responseTopic = message.properties.responseTopic {
            _ = try? await bridge.publish(topic: responseTopic, payload: [UInt8](), properties: MQTTProperties(correlationData: message.properties.correlationData))
        }
        received += 1
        if count > 0 && received >= count { break }
    }
}
