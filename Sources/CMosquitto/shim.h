#ifndef PUSHGATE_CMOSQUITTO_SHIM_H
#define PUSHGATE_CMOSQUITTO_SHIM_H
// libmosquitto from Debian's libmosquitto-dev (2.0.x): the MQTT 3.1.1/5 client.
#include <mosquitto.h>
#include <mqtt_protocol.h>

#ifdef __linux__
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

/// The network thread's wake-up: an eventfd (non-blocking), or -1.
static inline int pushgate_wakeup_open(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
static inline void pushgate_wakeup_signal(int fd) { uint64_t one = 1; ssize_t n = write(fd, &one, sizeof one); (void)n; }
static inline void pushgate_wakeup_drain(int fd) { uint64_t value; ssize_t n = read(fd, &value, sizeof value); (void)n; }
static inline void pushgate_wakeup_close(int fd) { close(fd); }

/// Holds back partial segments while set; clearing it sends what is queued (TCP_CORK).
static inline void pushgate_cork(int fd, int on) { setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on); }

/// Waits up to `timeout_ms` for the broker socket (readable, or writable when `want_write`) or the
/// wake-up. Returns a bit set: 1 readable (or closed, or failed), 4 woken; -1 on error. (Writable
/// needs no bit: the caller writes whenever libmosquitto wants to.)
static inline int pushgate_poll(int sock, int want_write, int wakeup, int timeout_ms) {
    struct pollfd fds[2] = {
        { .fd = sock, .events = (short)(POLLIN | (want_write ? POLLOUT : 0)), .revents = 0 },
        { .fd = wakeup, .events = POLLIN, .revents = 0 },
    };
    int ready = poll(fds, 2, timeout_ms);
    if (ready < 0) return -1;
    int result = 0;
    if (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) result |= 1;
    if (fds[1].revents & POLLIN) result |= 4;
    return result;
}
/// Names the calling thread (at most 15 bytes show) for top, perf and /proc: the network thread
/// would otherwise carry the name of whichever thread started it. (prctl is variadic, which
/// Swift cannot call.)
static inline void pushgate_name_current_thread(const char *name) {
    prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}
#else
static inline void pushgate_name_current_thread(const char *name) { (void)name; }
/// Elsewhere the network thread keeps to mosquitto_loop().
static inline int pushgate_wakeup_open(void) { return -1; }
static inline void pushgate_wakeup_signal(int fd) { (void)fd; }
static inline void pushgate_wakeup_drain(int fd) { (void)fd; }
static inline void pushgate_wakeup_close(int fd) { (void)fd; }
static inline void pushgate_cork(int fd, int on) { (void)fd; (void)on; }
static inline int pushgate_poll(int sock, int want_write, int wakeup, int timeout_ms) { (void)sock; (void)want_write; (void)wakeup; (void)timeout_ms; return -1; }
#endif
#endif
