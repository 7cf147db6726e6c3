/*
 * A Web Push device in C, as a constrained device would be: libmosquitto for MQTT, OpenSSL for
 * RFC 8291 decryption, nothing else.
 *
 * It makes its own Web Push keys (P-256 + a 16-byte auth secret), subscribes at Pushgate
 * (POST /subscribe over plain HTTP/1.1), writes the subscription ({"endpoint", "keys"}) for the
 * application server, subscribes to its MQTT topic, says "ready", and for each message decrypts
 * the aes128gcm body, prints it, and acknowledges it on the MQTT 5 Response Topic with its
 * Correlation Data.
 *
 *   make -C Examples/c
 *   Examples/c/pushgate-device --out subscription.json [--pushgate http://127.0.0.1:8080]
 *       [--broker-host 127.0.0.1] [--broker-port 1883] [--username U --password P] [--ca-file CA.pem]
 *       [--count N] [--timeout SECONDS]
 *
 * Defaults fit `make run`. HTTPS to Pushgate is left out (a device that can do TLS uses its HTTP
 * library); the broker connection does TLS with --ca-file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <netdb.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PUBLIC_KEY_LENGTH 65
#define AUTH_LENGTH 16

struct device {
    EVP_PKEY *key;
    unsigned char public_key[PUBLIC_KEY_LENGTH];
    unsigned char auth[AUTH_LENGTH];
    char topic[512];
    char ack_topic[512];
    int received;
    int count;
};

static void fail(const char *what) {
    fprintf(stderr, "pushgate-device: %s\n", what);
    exit(1);
}

/* ---- base64url ---------------------------------------------------------------------------- */

static void b64url(const unsigned char *in, size_t length, char *out) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < length; i += 3) {
        unsigned v = in[i] << 16 | (i + 1 < length ? in[i + 1] << 8 : 0) | (i + 2 < length ? in[i + 2] : 0);
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        if (i + 1 < length) out[o++] = alphabet[v >> 6 & 63];
        if (i + 2 < length) out[o++] = alphabet[v & 63];
    }
    out[o] = 0;
}

/* ---- RFC 8291 / 8188 ----------------------------------------------------------------------- */

/* HKDF-SHA256 (RFC 5869) for outputs of at most 32 bytes: one HMAC for extract, one for expand. */
static void hkdf(const unsigned char *salt, size_t salt_length, const unsigned char *ikm, size_t ikm_length,
                 const unsigned char *info, size_t info_length, unsigned char *out, size_t out_length) {
    unsigned char prk[32], block[32], input[256];
    unsigned length = 0;
    HMAC(EVP_sha256(), salt, (int)salt_length, ikm, ikm_length, prk, &length);
    memcpy(input, info, info_length);
    input[info_length] = 1;
    HMAC(EVP_sha256(), prk, sizeof prk, input, info_length + 1, block, &length);
    memcpy(out, block, out_length);
}

/* The P-256 shared secret with the sender's public key (uncompressed point). */
static int ecdh(EVP_PKEY *own, const unsigned char *peer_public, unsigned char secret[32]) {
    OSSL_PARAM_BLD *builder = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_utf8_string(builder, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
    OSSL_PARAM_BLD_push_octet_string(builder, OSSL_PKEY_PARAM_PUB_KEY, peer_public, PUBLIC_KEY_LENGTH);
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(builder);
    EVP_PKEY_CTX *from = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *peer = NULL;
    int ok = from && EVP_PKEY_fromdata_init(from) > 0 && EVP_PKEY_fromdata(from, &peer, EVP_PKEY_PUBLIC_KEY, params) > 0;
    EVP_PKEY_CTX *derive = ok ? EVP_PKEY_CTX_new(own, NULL) : NULL;
    size_t length = 32;
    ok = ok && derive && EVP_PKEY_derive_init(derive) > 0 && EVP_PKEY_derive_set_peer(derive, peer) > 0 &&
         EVP_PKEY_derive(derive, secret, &length) > 0 && length == 32;
    EVP_PKEY_CTX_free(derive);
    EVP_PKEY_free(peer);
    EVP_PKEY_CTX_free(from);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(builder);
    return ok;
}

/* Decrypts one aes128gcm message (a single record, as Web Push sends) into `plain`; returns its
 * length, or -1 if it is not a message for this device. */
static int decrypt(struct device *device, const unsigned char *body, size_t length, unsigned char *plain) {
    /* Header: salt (16) | record size (4) | key id length (1) | key id = sender's public key (65). */
    if (length < 21 + PUBLIC_KEY_LENGTH + 17 || body[20] != PUBLIC_KEY_LENGTH) return -1;
    const unsigned char *salt = body, *sender = body + 21, *record = body + 21 + PUBLIC_KEY_LENGTH;
    size_t record_length = length - 21 - PUBLIC_KEY_LENGTH;
    unsigned char secret[32], ikm[32], cek[16], nonce[12], info[144];
    if (!ecdh(device->key, sender, secret)) return -1;
    /* IKM = HKDF(auth, ecdh, "WebPush: info\0" || ua_public || as_public, 32) (RFC 8291 §3.3). */
    memcpy(info, "WebPush: info", 14);
    memcpy(info + 14, device->public_key, PUBLIC_KEY_LENGTH);
    memcpy(info + 14 + PUBLIC_KEY_LENGTH, sender, PUBLIC_KEY_LENGTH);
    hkdf(device->auth, AUTH_LENGTH, secret, 32, info, 14 + 2 * PUBLIC_KEY_LENGTH, ikm, 32);
    /* CEK and nonce from the salt (RFC 8188 §2.2, §2.3). */
    hkdf(salt, 16, ikm, 32, (const unsigned char *)"Content-Encoding: aes128gcm", 28, cek, 16);
    hkdf(salt, 16, ikm, 32, (const unsigned char *)"Content-Encoding: nonce", 24, nonce, 12);

    EVP_CIPHER_CTX *cipher = EVP_CIPHER_CTX_new();
    int out = 0, final = 0;
    size_t ciphertext_length = record_length - 16;
    int ok = EVP_DecryptInit_ex(cipher, EVP_aes_128_gcm(), NULL, cek, nonce) > 0 &&
             EVP_DecryptUpdate(cipher, plain, &out, record, (int)ciphertext_length) > 0 &&
             EVP_CIPHER_CTX_ctrl(cipher, EVP_CTRL_GCM_SET_TAG, 16, (void *)(record + ciphertext_length)) > 0 &&
             EVP_DecryptFinal_ex(cipher, plain + out, &final) > 0;
    EVP_CIPHER_CTX_free(cipher);
    if (!ok) return -1;
    /* The last record ends with the delimiter 0x02, then zero padding. */
    int end = out + final;
    while (end > 0 && plain[end - 1] == 0) end--;
    if (end == 0 || plain[end - 1] != 2) return -1;
    return end - 1;
}

/* ---- POST /subscribe ----------------------------------------------------------------------- */

/* The value of a JSON string member in `json` (no escapes: Pushgate's URLs and topics have none). */
static int json_string(const char *json, const char *name, char *out, size_t size) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", name);
    const char *start = strstr(json, pattern);
    if (!start) return 0;
    start += strlen(pattern);
    const char *end = strchr(start, '"');
    if (!end || (size_t)(end - start) >= size) return 0;
    memcpy(out, start, end - start);
    out[end - start] = 0;
    return 1;
}

static void subscribe(const char *pushgate, char *endpoint, size_t endpoint_size, struct device *device) {
    char host[256];
    int port = 80;
    if (sscanf(pushgate, "http://%255[^:/]:%d", host, &port) < 1) fail("--pushgate must be http://host[:port]");
    char port_text[8];
    snprintf(port_text, sizeof port_text, "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *address;
    if (getaddrinfo(host, port_text, &hints, &address) != 0) fail("cannot resolve the Pushgate host");
    int sock = socket(address->ai_family, address->ai_socktype, 0);
    if (sock < 0 || connect(sock, address->ai_addr, address->ai_addrlen) != 0) fail("cannot connect to Pushgate");
    freeaddrinfo(address);
    char request[512];
    int request_length = snprintf(request, sizeof request,
                                  "POST /subscribe HTTP/1.1\r\nHost: %s:%d\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", host, port);
    if (write(sock, request, request_length) != request_length) fail("cannot send the subscribe request");
    static char response[16384];
    size_t used = 0;
    ssize_t n;
    while (used < sizeof response - 1 && (n = read(sock, response + used, sizeof response - 1 - used)) > 0) used += n;
    response[used] = 0;
    close(sock);
    if (strncmp(response, "HTTP/1.1 201", 12) != 0) {
        fprintf(stderr, "pushgate-device: subscribe answered: %.200s\n", response);
        exit(1);
    }
    const char *body = strstr(response, "\r\n\r\n");
    if (!body || !json_string(body, "endpoint", endpoint, endpoint_size) ||
        !json_string(body, "mqtt_topic", device->topic, sizeof device->topic) ||
        !json_string(body, "mqtt_ack_topic", device->ack_topic, sizeof device->ack_topic))
        fail("the subscribe answer lacks endpoint, mqtt_topic or mqtt_ack_topic");
}

/* ---- MQTT ---------------------------------------------------------------------------------- */

static void on_connect(struct mosquitto *mosq, void *context, int rc, int flags, const mosquitto_property *properties) {
    struct device *device = context;
    (void)flags;
    (void)properties;
    if (rc != 0) {
        fprintf(stderr, "pushgate-device: the broker refused the connection: %s (set --username/--password?)\n",
                mosquitto_reason_string(rc));
        exit(1);
    }
    mosquitto_subscribe_v5(mosq, NULL, device->topic, 1, 0, NULL);
}

static void on_subscribe(struct mosquitto *mosq, void *context, int mid, int count, const int *granted, const mosquitto_property *properties) {
    struct device *device = context;
    (void)mid;
    (void)properties;
    if (count < 1 || granted[0] >= 0x80) fail("the broker refused the subscription (its ACL?)");
    /* "Ready": an empty message without Correlation Data; Pushgate sends what it holds. */
    mosquitto_publish_v5(mosq, NULL, device->ack_topic, 0, "", 1, false, NULL);
    printf("ready\n");
    fflush(stdout);
}

static void on_message(struct mosquitto *mosq, void *context, const struct mosquitto_message *message, const mosquitto_property *properties) {
    struct device *device = context;
    static unsigned char plain[8192];
    int length = message->payloadlen <= 0 ? 0 : decrypt(device, message->payload, (size_t)message->payloadlen, plain);
    if (message->payloadlen > 0 && length < 0) {
        fprintf(stderr, "pushgate-device: a message that does not decrypt with this device's keys\n");
    } else {
        printf("message: %.*s\n", length, (const char *)plain);
        fflush(stdout);
    }
    /* Acknowledge: publish to the Response Topic with the message's Correlation Data. */
    char *response_topic = NULL;
    void *correlation = NULL;
    uint16_t correlation_length = 0;
    if (mosquitto_property_read_string(properties, MQTT_PROP_RESPONSE_TOPIC, &response_topic, false) &&
        mosquitto_property_read_binary(properties, MQTT_PROP_CORRELATION_DATA, &correlation, &correlation_length, false)) {
        mosquitto_property *ack = NULL;
        mosquitto_property_add_binary(&ack, MQTT_PROP_CORRELATION_DATA, correlation, correlation_length);
        mosquitto_publish_v5(mosq, NULL, response_topic, 0, "", 1, false, ack);
        mosquitto_property_free_all(&ack);
    }
    free(response_topic);
    free(correlation);
    if (device->count > 0 && ++device->received >= device->count) mosquitto_disconnect(mosq);
}

int main(int argc, char **argv) {
    const char *pushgate = "http://127.0.0.1:8080", *broker_host = "127.0.0.1", *out = "subscription.json";
    const char *username = NULL, *password = getenv("MQTT_PASSWORD"), *ca_file = NULL;
    int broker_port = 1883, timeout = 0;
    struct device device = {0};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--pushgate")) pushgate = argv[i + 1];
        else if (!strcmp(argv[i], "--broker-host")) broker_host = argv[i + 1];
        else if (!strcmp(argv[i], "--broker-port")) broker_port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--username")) username = argv[i + 1];
        else if (!strcmp(argv[i], "--password")) password = argv[i + 1];
        else if (!strcmp(argv[i], "--ca-file")) ca_file = argv[i + 1];
        else if (!strcmp(argv[i], "--out")) out = argv[i + 1];
        else if (!strcmp(argv[i], "--count")) device.count = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--timeout")) timeout = atoi(argv[i + 1]);
        else fail("unknown option (see the comment at the top of device.c)");
    }

    /* Keys: P-256 (p256dh) and the auth secret. */
    device.key = EVP_EC_gen("P-256");
    size_t public_length = 0;
    if (!device.key || !EVP_PKEY_get_octet_string_param(device.key, OSSL_PKEY_PARAM_PUB_KEY, device.public_key, PUBLIC_KEY_LENGTH, &public_length) ||
        public_length != PUBLIC_KEY_LENGTH)
        fail("cannot make a P-256 key");
    if (RAND_bytes(device.auth, AUTH_LENGTH) != 1) fail("no randomness");

    char endpoint[1024], p256dh[128], auth[32];
    subscribe(pushgate, endpoint, sizeof endpoint, &device);
    b64url(device.public_key, PUBLIC_KEY_LENGTH, p256dh);
    b64url(device.auth, AUTH_LENGTH, auth);
    FILE *file = fopen(out, "w");
    if (!file) fail("cannot write the subscription file");
    fprintf(file, "{\"endpoint\": \"%s\", \"keys\": {\"p256dh\": \"%s\", \"auth\": \"%s\"}}\n", endpoint, p256dh, auth);
    fclose(file);
    printf("subscribed: %s written; MQTT topic %s\n", out, device.topic);
    fflush(stdout);

    mosquitto_lib_init();
    struct mosquitto *mosq = mosquitto_new(NULL, true, &device);
    mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    if (username) mosquitto_username_pw_set(mosq, username, password);
    if (ca_file && mosquitto_tls_set(mosq, ca_file, NULL, NULL, NULL, NULL) != MOSQ_ERR_SUCCESS) fail("cannot use the CA file");
    mosquitto_connect_v5_callback_set(mosq, on_connect);
    mosquitto_subscribe_v5_callback_set(mosq, on_subscribe);
    mosquitto_message_v5_callback_set(mosq, on_message);
    if (mosquitto_connect_bind_v5(mosq, broker_host, broker_port, 30, NULL, NULL) != MOSQ_ERR_SUCCESS) fail("cannot connect to the broker");
    time_t deadline = timeout > 0 ? time(NULL) + timeout : 0;
    int rc = MOSQ_ERR_SUCCESS;
    while (rc == MOSQ_ERR_SUCCESS && (!deadline || time(NULL) < deadline)) rc = mosquitto_loop(mosq, 200, 1);
    mosquitto_destroy(mosq);
    mosquitto_lib_cleanup();
    EVP_PKEY_free(device.key);
    if (deadline && time(NULL) >= deadline && device.received < device.count) fail("timed out");
    return 0;
}
