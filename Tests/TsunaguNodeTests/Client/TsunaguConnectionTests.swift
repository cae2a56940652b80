import NIOCore
import NIOPosix
import Testing
import TsunaguClient
import TsunaguWebSocket

private func withClientTestServer(_ body: (ClientTestServer) async throws -> Void) async throws {
    let server = try await ClientTestServer.start(group: MultiThreadedEventLoopGroup.singleton)
    do {
        try await body(server)
    } catch {
        await server.stop()
        throw error
    }
    await server.stop()
}

private func connect(_ server: ClientTestServer, path: String = "/v1/ws") async throws -> TsunaguConnection {
    try await TsunaguConnection.connect(host: "127.0.0.1", port: server.port, path: path,
                                        group: MultiThreadedEventLoopGroup.singleton)
}

@Suite("TsunaguConnection against a fake node")
struct TsunaguConnectionTests {
    @Test("auth gets id 1 and its ok reply")
    func authReply() async throws {
        try await withClientTestServer { server in
            let connection = try await connect(server)
            #expect(!connection.isCompressed)
            let reply = try await connection.request(["type": "auth", "token": "tok"])
            #expect(reply["type"] == "ok")
            #expect(reply["re"]?.intValue == 1)
            #expect(reply["user"]?["name"]?.stringValue == "Test User")
            await connection.close()
        }
    }

    @Test("replies are matched by re while pushes before and after them stay queued in order")
    func interleavedPushes() async throws {
        try await withClientTestServer { server in
            let connection = try await connect(server)
            _ = try await connection.request(["type": "auth", "token": "tok"])
            let reply = try await connection.request(["type": "subscribe", "timeline": "tl_1", "since": nil])
            #expect(reply["type"] == "ok")
            #expect(reply["head"]?.intValue == 1)
            let event = try await connection.nextPush()
            #expect(event["type"] == "event")
            #expect(event["body"] == "earlier")
            #expect(event["re"] == nil)
            let receipt = try await connection.nextPush()
            #expect(receipt["type"] == "receipt")
            #expect(receipt["user"] == "u_2")
            await connection.close()
        }
    }

    @Test("concurrent requests each get their own reply")
    func concurrentRequests() async throws {
        try await withClientTestServer { server in
            let connection = try await connect(server)
            _ = try await connection.request(["type": "auth", "token": "tok"])
            let bodies = try await withThrowingTaskGroup(of: (String, Int).self) { group in
                for n in 0..<20 {
                    group.addTask {
                        let reply = try await connection.request(
                            ["type": "post", "timeline": "tl_1", "body": .string("m\(n)"), "client_msg_id": .string("c\(n)")])
                        return ("m\(n)", try #require(reply["seq"]?.intValue))
                    }
                }
                var result: [String: Int] = [:]
                for try await (body, seq) in group { result[body] = seq }
                return result
            }
            #expect(bodies.count == 20)
            #expect(Set(bodies.values) == Set(2...21))
            // Each post's event is a push carrying the same seq the reply gave.
            for _ in 0..<20 {
                let event = try await connection.nextPush()
                let body = try #require(event["body"]?.stringValue)
                #expect(event["seq"]?.intValue == bodies[body])
            }
            await connection.close()
        }
    }

    @Test("a request without reply times out and the connection stays usable")
    func requestTimeout() async throws {
        try await withClientTestServer { server in
            let connection = try await connect(server)
            await #expect(throws: TsunaguClientError.timeout) {
                _ = try await connection.request(["type": "silent"], timeout: .milliseconds(200))
            }
            await #expect(throws: TsunaguClientError.timeout) {
                _ = try await connection.nextPush(timeout: .milliseconds(100))
            }
            let reply = try await connection.request(["type": "ping"])
            #expect(reply["type"] == "ok")
            #expect(reply["at"] != nil)
            await connection.close()
        }
    }

    @Test("an error reply is returned, not thrown")
    func errorReply() async throws {
        try await withClientTestServer { server in
            let connection = try await connect(server)
            let reply = try await connection.request(["type": "bogus"])
            #expect(reply["type"] == "error")
            #expect(reply["code"] == "bad_request")
            await connection.close()
        }
    }

    @Test("the server's close code reaches pending requests, nextPush and waitForClose")
    func serverCloseCode() async throws {
        try await withClientTestServer { server in
            let connection = try await connect(server)
            await #expect(throws: TsunaguClientError.closed(code: 4001, reason: "bye")) {
                _ = try await connection.request(["type": "close", "code": 4001])
            }
            #expect(try await connection.waitForClose() == 4001)
            await #expect(throws: TsunaguClientError.closed(code: 4001, reason: "bye")) {
                _ = try await connection.nextPush(timeout: .seconds(1))
            }
            await #expect(throws: TsunaguClientError.self) {
                _ = try await connection.request(["type": "ping"])
            }
            #expect(!connection.isOpen)
        }
    }

    @Test("a dropped TCP connection closes with no code")
    func droppedConnection() async throws {
        try await withClientTestServer { server in
            let connection = try await connect(server)
            try await connection.sendText(#"{"type":"drop","id":5}"#)
            #expect(try await connection.waitForClose() == nil)
        }
    }

    @Test("waitForClose times out on an open connection")
    func waitForCloseTimeout() async throws {
        try await withClientTestServer { server in
            let connection = try await connect(server)
            await #expect(throws: TsunaguClientError.timeout) {
                _ = try await connection.waitForClose(timeout: .milliseconds(100))
            }
            await connection.close()
        }
    }

    @Test("raw text: malformed JSON and hand-made requests come back as pushes")
    func rawText() async throws {
        try await withClientTestServer { server in
            let connection = try await connect(server)
            try await connection.sendText("{not json")
            let error = try await connection.nextPush()
            #expect(error["type"] == "error")
            #expect(error["code"] == "bad_request")
            try await connection.sendText(#"{"type":"ping","id":42}"#)
            let reply = try await connection.nextPush()
            #expect(reply["re"]?.intValue == 42)
            // Automatic ids continue past ids the caller chose.
            let next = try await connection.request(["type": "ping", "id": 43])
            #expect(next["re"]?.intValue == 43)
            await connection.close()
        }
    }

    @Test("raw frames: a fragmented text message is reassembled by the server; binary gets 1003")
    func rawFrames() async throws {
        try await withClientTestServer { server in
            let connection = try await connect(server)
            let text = Array(#"{"type":"ping","id":7}"#.utf8)
            try await connection.sendFrame(opcode: .text, payload: Array(text[0..<5]), fin: false)
            try await connection.sendFrame(opcode: .ping, payload: Array("hi".utf8))
            try await connection.sendFrame(opcode: .continuation, payload: Array(text[5...]), fin: true)
            let reply = try await connection.nextPush()
            #expect(reply["re"]?.intValue == 7)
            try await connection.sendFrame(opcode: .binary, payload: [1, 2, 3])
            #expect(try await connection.waitForClose() == 1003)
        }
    }

    @Test("a fragmented push with a ping in between is reassembled and the ping answered")
    func fragmentedPush() async throws {
        try await withClientTestServer { server in
            let connection = try await connect(server)
            let reply = try await connection.request(["type": "fragmented"])
            #expect(reply["type"] == "ok")
            let event = try await connection.nextPush()
            #expect(event["body"] == "in three parts")
            #expect(event["seq"]?.intValue == 99)
            let pong = try await connection.nextPush()
            #expect(pong["type"] == "pong_seen")
            #expect(pong["data"] == "are you there")
            await connection.close()
        }
    }

    @Test("a refused upgrade reports the HTTP status")
    func handshakeFailure() async throws {
        try await withClientTestServer { server in
            await #expect(throws: TsunaguClientError.handshakeFailed(status: 404)) {
                _ = try await connect(server, path: "/nope")
            }
        }
    }

    @Test("client close completes the close handshake")
    func clientClose() async throws {
        try await withClientTestServer { server in
            let connection = try await connect(server)
            await connection.close()
            #expect(!connection.isOpen)
            #expect(try await connection.waitForClose() == 1000)
        }
    }

    @Test("permessage-deflate: messages are compressed both ways when offered and accepted")
    func compression() async throws {
        try await withClientTestServer { server in
            let connection = try await TsunaguConnection.connect(
                host: "127.0.0.1", port: server.port, offerCompression: true, group: MultiThreadedEventLoopGroup.singleton)
            #expect(connection.isCompressed)
            let long = String(repeating: "折り返し compressible text ", count: 400)
            for n in 1...3 {
                let message: JSONValue = ["type": "echo", "n": .int(n), "text": .string(n == 2 ? long : "short")]
                try await connection.sendText(message.serialized())
                // The server echoes our own deflated payload, then a stored-block message of its own.
                #expect(try await connection.nextPush() == message.objectValue)
                #expect(try await connection.nextPush() == ["type": "stored", "n": .int(n)])
            }
            await connection.close()
        }
    }

    @Test("no compression unless offered")
    func noCompressionUnlessOffered() async throws {
        try await withClientTestServer { server in
            let connection = try await connect(server)
            #expect(!connection.isCompressed)
            #expect(try await connection.request(["type": "ping"])["type"] == "ok")
            await connection.close()
        }
    }

    @Test("a connection bound to a source address")
    func localAddress() async throws {
        try await withClientTestServer { server in
            let connection = try await TsunaguConnection.connect(
                host: "127.0.0.1", port: server.port, localAddress: "127.0.0.1", group: MultiThreadedEventLoopGroup.singleton)
            #expect(try await connection.request(["type": "ping"])["type"] == "ok")
            await connection.close()
        }
    }
}

@Suite("WebSocketClient with callbacks")
struct WebSocketClientCallbackTests {
    @Test("callbacks deliver every text message and the close")
    func callbacks() async throws {
        try await withClientTestServer { server in
            let group = MultiThreadedEventLoopGroup.singleton
            let messages = AsyncStream<String>.makeStream()
            let closed = AsyncStream<UInt16?>.makeStream()
            let connection = try await WebSocketClient.connect(
                host: "127.0.0.1", port: server.port, configuration: .init(path: "/v1/ws"), group: group,
                onText: { buffer in messages.continuation.yield(String(buffer: buffer)) },
                onClose: { code, _ in closed.continuation.yield(code); closed.continuation.finish() }).get()
            connection.send(#"{"type":"auth","id":1,"token":"t"}"#)
            connection.eventLoop.execute {
                for n in 0..<3 {
                    connection.send(ByteBuffer(string: #"{"type":"post","id":\#(n + 2),"timeline":"tl","body":"b\#(n)"}"#), flush: false)
                }
                connection.flush()
            }
            var received: [JSONObject] = []
            for await text in messages.stream {
                received.append(try #require(try JSONValue.parse(text).objectValue))
                if received.count == 7 { break }
            }
            #expect(received[0]["re"]?.intValue == 1)
            #expect(received.filter { $0["type"] == "event" }.compactMap { $0["body"]?.stringValue } == ["b0", "b1", "b2"])
            connection.send(#"{"type":"close","id":9,"code":4000}"#)
            var codes: [UInt16?] = []
            for await code in closed.stream { codes.append(code) }
            #expect(codes == [4000])
        }
    }
}

@Suite("TsunaguHTTPClient")
struct TsunaguHTTPClientTests {
    @Test("a refused connection throws")
    func refused() async throws {
        let server = try await ClientTestServer.start(group: MultiThreadedEventLoopGroup.singleton)
        let port = server.port
        await server.stop()
        let client = TsunaguHTTPClient(host: "127.0.0.1", port: port, group: MultiThreadedEventLoopGroup.singleton)
        await #expect(throws: (any Error).self) { _ = try await client.send("GET", "/healthz") }
        await #expect(throws: (any Error).self) {
            _ = try await TsunaguConnection.connect(host: "127.0.0.1", port: port, group: MultiThreadedEventLoopGroup.singleton)
        }
    }

    @Test("POST /v1/sessions returns 201 with JSON")
    func login() async throws {
        try await withClientTestServer { server in
            let client = TsunaguHTTPClient(host: "127.0.0.1", port: server.port, group: MultiThreadedEventLoopGroup.singleton)
            let reply = try await client.send("POST", "/v1/sessions", json: ["email": "a@example.com", "password": "secret"])
            #expect(reply.status == 201)
            #expect(reply.json?["token"] == "tok_test")
            #expect(reply.json?["user"]?["email"] == "a@example.com")
            let bad = try await client.send("POST", "/v1/sessions", json: ["email": "a@example.com", "password": "nope"])
            #expect(bad.status == 401)
            #expect(bad.json?["code"] == "unauthenticated")
        }
    }

    @Test("bearer token and 404")
    func tokenAndNotFound() async throws {
        try await withClientTestServer { server in
            let client = TsunaguHTTPClient(host: "127.0.0.1", port: server.port, group: MultiThreadedEventLoopGroup.singleton)
            let who = try await client.send("GET", "/whoami", token: "abc")
            #expect(who.json?["authorization"] == "Bearer abc")
            let missing = try await client.send("GET", "/v1/nothing")
            #expect(missing.status == 404)
            #expect(missing.header("content-type") == "application/json")
        }
    }
}
