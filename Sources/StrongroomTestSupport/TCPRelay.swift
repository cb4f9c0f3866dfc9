import Foundation
import Glibc
import Synchronization

/// A loopback TCP relay in front of a real service, which a test cuts and restores to make
/// that service unreachable and reachable again without losing its state.
///
/// While cut, new connections are refused and open ones are reset: what a client sees when
/// the service's host goes away. Restored, it listens on the same port again.
public final class TCPRelay: Sendable {
    /// The port clients connect to.
    public let port: UInt16
    private let target: UInt16
    private let state = Mutex(State())

    private struct State {
        var listener: Int32 = -1
        var connections: [ObjectIdentifier: Connection] = [:]
    }

    /// One relayed connection; the second pump to finish closes both sockets.
    private final class Connection: Sendable {
        let client: Int32
        let upstream: Int32
        let open = Atomic(2)
        init(client: Int32, upstream: Int32) {
            self.client = client
            self.upstream = upstream
        }
    }

    /// `http://127.0.0.1:PORT`, for a service reference.
    public var address: String { "http://127.0.0.1:\(port)" }

    /// Relays a free loopback port to the port of `url` (`http://127.0.0.1:PORT`).
    public init(to url: String) throws {
        guard let parsed = URL(string: url), let port = parsed.port, let target = UInt16(exactly: port) else {
            throw CocoaError(.fileReadInvalidFileName)
        }
        self.target = target
        let listener = try Self.listen(port: 0)
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        self.port = UInt16(bigEndian: address.sin_port)
        state.withLock { $0.listener = listener }
        accept(on: listener)
    }

    deinit { cut() }

    /// Refuses new connections and resets open ones.
    public func cut() {
        let (listener, connections) = state.withLock { state in
            defer {
                state.listener = -1
                state.connections = [:]
            }
            return (state.listener, Array(state.connections.values))
        }
        if listener >= 0 {
            shutdown(listener, Int32(SHUT_RDWR))
            close(listener)
        }
        for connection in connections {
            shutdown(connection.client, Int32(SHUT_RDWR))
            shutdown(connection.upstream, Int32(SHUT_RDWR))
        }
    }

    /// Listens on the same port again.
    public func restore() throws {
        let listener = try Self.listen(port: port)
        state.withLock { $0.listener = listener }
        accept(on: listener)
    }

    private static func listen(port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, Glibc.listen(fd, 64) == 0 else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        return fd
    }

    private static func loopback(_ port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }

    private func accept(on listener: Int32) {
        Thread.detachNewThread { [weak self] in
            while true {
                let client = Glibc.accept(listener, nil, nil)
                guard client >= 0 else { return }
                guard let self else {
                    close(client)
                    return
                }
                self.relay(client)
            }
        }
    }

    private func relay(_ client: Int32) {
        let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Self.loopback(target)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        // A connection accepted just as the relay was cut is dropped like the rest.
        let connection = Connection(client: client, upstream: upstream)
        let live = state.withLock { state in
            guard state.listener >= 0, connected == 0 else { return false }
            state.connections[ObjectIdentifier(connection)] = connection
            return true
        }
        guard live else {
            close(client)
            close(upstream)
            return
        }
        for (from, to) in [(client, upstream), (upstream, client)] {
            Thread.detachNewThread { [weak self] in
                Self.pump(from: from, to: to)
                guard connection.open.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 else { return }
                close(connection.client)
                close(connection.upstream)
                _ = self?.state.withLock { $0.connections.removeValue(forKey: ObjectIdentifier(connection)) }
            }
        }
    }

    private static func pump(from: Int32, to: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(from, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            var sent = 0
            while sent < count {
                // MSG_NOSIGNAL: a peer gone mid-write is an error here, not a SIGPIPE for the tests.
                let wrote = buffer.withUnsafeBytes {
                    send(to, $0.baseAddress.map { $0 + sent }, count - sent, Int32(MSG_NOSIGNAL))
                }
                guard wrote > 0 else {
                    shutdown(from, Int32(SHUT_RDWR))
                    return
                }
                sent += wrote
            }
        }
        shutdown(to, Int32(SHUT_WR))
    }
}
