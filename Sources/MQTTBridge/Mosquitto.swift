import CMosquitto
import Foundation

/// Thin helpers over libmosquitto's C API: library setup, error texts, property lists.
package enum Mosquitto {
    /// `mosquitto_lib_init` once per process (it is not reference counted per handle).
    static let initialized: Bool = {
        mosquitto_lib_init() == MOSQ_ERR_SUCCESS.rawValue
    }()

    /// MQTT 5 DISCONNECT reason "Session taken over".
    static let sessionTakenOver: Int32 = 0x8E

    static func errorText(_ code: Int32) -> String {
        String(cString: mosquitto_strerror(code))
    }

    static func reasonText(_ code: Int32) -> String {
        String(cString: mosquitto_reason_string(code))
    }

    /// Maps a libmosquitto return code of publish/subscribe onto the bridge's error.
    static func error(_ code: Int32, topic: String) -> MQTTBridgeError {
        switch code {
        case MOSQ_ERR_NO_CONN.rawValue, MOSQ_ERR_CONN_LOST.rawValue:
            .brokerUnavailable("not connected")
        case MOSQ_ERR_OVERSIZE_PACKET.rawValue, MOSQ_ERR_PAYLOAD_SIZE.rawValue:
            .packetTooLarge
        case MOSQ_ERR_INVAL.rawValue, MOSQ_ERR_MALFORMED_UTF8.rawValue:
            .invalidTopic(topic)
        default:
            .client(code: Int(code), message: errorText(code))
        }
    }

    // MARK: Properties

    /// Builds a libmosquitto property list; the caller frees it with `mosquitto_property_free_all`.
    package static func propertyList(_ properties: MQTTProperties) -> OpaquePointer? {
        var list: OpaquePointer?
        if let expiry = properties.messageExpiryInterval {
            mosquitto_property_add_int32(&list, Int32(MQTT_PROP_MESSAGE_EXPIRY_INTERVAL.rawValue), expiry)
        }
        if let contentType = properties.contentType {
            mosquitto_property_add_string(&list, Int32(MQTT_PROP_CONTENT_TYPE.rawValue), contentType)
        }
        if let data = properties.correlationData {
            data.withUnsafeBytes { bytes in
                _ = mosquitto_property_add_binary(&list, Int32(MQTT_PROP_CORRELATION_DATA.rawValue), bytes.baseAddress, UInt16(clamping: bytes.count))
            }
        }
        if let responseTopic = properties.responseTopic {
            mosquitto_property_add_string(&list, Int32(MQTT_PROP_RESPONSE_TOPIC.rawValue), responseTopic)
        }
        for user in properties.userProperties {
            mosquitto_property_add_string_pair(&list, Int32(MQTT_PROP_USER_PROPERTY.rawValue), user.name, user.value)
        }
        return list
    }

    /// Reads the properties a received message carries.
    static func properties(from list: OpaquePointer?) -> MQTTProperties {
        var properties = MQTTProperties()
        guard let list else { return properties }
        var expiry: UInt32 = 0
        if mosquitto_property_read_int32(list, Int32(MQTT_PROP_MESSAGE_EXPIRY_INTERVAL.rawValue), &expiry, false) != nil {
            properties.messageExpiryInterval = expiry
        }
        properties.contentType = readString(list, MQTT_PROP_CONTENT_TYPE)
        properties.responseTopic = readString(list, MQTT_PROP_RESPONSE_TOPIC)
        var binary: UnsafeMutableRawPointer?
        var length: UInt16 = 0
        if mosquitto_property_read_binary(list, Int32(MQTT_PROP_CORRELATION_DATA.rawValue), &binary, &length, false) != nil {
            if let binary {
                properties.correlationData = Array(UnsafeRawBufferPointer(start: binary, count: Int(length)))
                free(binary)
            } else {
                properties.correlationData = []
            }
        }
        var cursor: OpaquePointer? = list
        var skipFirst = false
        while true {
            var name: UnsafeMutablePointer<CChar>?
            var value: UnsafeMutablePointer<CChar>?
            guard let found = mosquitto_property_read_string_pair(cursor, Int32(MQTT_PROP_USER_PROPERTY.rawValue), &name, &value, skipFirst) else { break }
            if let name, let value {
                properties.userProperties.append(.init(String(cString: name), String(cString: value)))
            }
            free(name)
            free(value)
            cursor = found
            skipFirst = true
        }
        return properties
    }

    static func readInt16(_ list: OpaquePointer?, _ identifier: mqtt5_property) -> UInt16? {
        var value: UInt16 = 0
        return mosquitto_property_read_int16(list, Int32(identifier.rawValue), &value, false) != nil ? value : nil
    }

    private static func readString(_ list: OpaquePointer, _ identifier: mqtt5_property) -> String? {
        var value: UnsafeMutablePointer<CChar>?
        guard mosquitto_property_read_string(list, Int32(identifier.rawValue), &value, false) != nil, let value else { return nil }
        defer { free(value) }
        return String(cString: value)
    }
}
