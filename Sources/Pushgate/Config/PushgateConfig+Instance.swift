import Crypto
import Foundation

extension PushgateConfig {
    /// The MQTT client identifier of this instance: `mqtt.client_id` if set, otherwise
    /// `pushgate-<host>-<8 hex digits>` derived from the host name, the listen address and the
    /// registry. Two instances differ in at least one of those (two on one host cannot share a
    /// listen address), so they never take each other's broker session over; and one instance
    /// gets the same identifier after every restart, so a persistent session (`clean_start:
    /// false`) resumes. Nothing needs to be stored for it.
    public func mqttClientID(hostname: String? = nil) -> String {
        if let explicit = mqtt.clientID { return explicit }
        let hostname = hostname ?? ProcessInfo.processInfo.hostName
        let digest = SHA256.hash(data: Data("\(hostname)\n\(server.listen)\n\(storage.displayName)".utf8))
        let suffix = digest.prefix(4).map { String(format: "%02x", $0) }.joined()
        // Host names may hold characters some brokers refuse in client ids; keep it plain.
        let host = String(hostname.split(separator: ".").first ?? "host").filter { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }.prefix(24)
        return "pushgate-\(host.isEmpty ? "host" : host)-\(suffix)"
    }
}
