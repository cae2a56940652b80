#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOCore
import NIOPosix

/// A loopback listener that does not accept, with its accept queue filled: the kernel drops
/// further SYNs (the client retries them after 1 s, 3 s…), as on a node swamped by a reconnect
/// storm. `startAccepting()` drains it, like a node catching up.
final class FullAcceptQueue: @unchecked Sendable {
    let port: Int
    private let descriptor: Int32
    private var fillers: [any Channel] = []

    init() async throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestClientError(description: "socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length) == 0 && listen(descriptor, 0) == 0
                    && getsockname(descriptor, pointer, &length) == 0
            }
        }
        guard bound else {
            Glibc.close(descriptor)
            throw TestClientError(description: "bind/listen failed")
        }
        self.descriptor = descriptor
        self.port = Int(UInt16(bigEndian: address.sin_port))
        // Connects beyond the queue's room time out; the ones before fill it.
        for _ in 0..<4 {
            if let channel = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.milliseconds(200))
                .connect(host: "127.0.0.1", port: self.port).get()
            {
                self.fillers.append(channel)
            }
        }
        guard !self.fillers.isEmpty else { throw TestClientError(description: "could not fill the accept queue") }
    }

    /// Accepts (and keeps open) every connection from now on, on a thread of its own, until
    /// `close()`.
    func startAccepting() {
        let descriptor = self.descriptor
        Thread.detachNewThread {
            while true {
                let client = accept(descriptor, nil, nil)
                if client < 0 { return }  // the listener was closed
            }
        }
    }

    func close() async {
        shutdown(self.descriptor, Int32(SHUT_RDWR))
        Glibc.close(self.descriptor)
        for channel in self.fillers { try? await channel.close() }
    }
}
