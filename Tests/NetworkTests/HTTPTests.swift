import Foundation
import Synchronization
import Testing
@testable import Network

#if canImport(Glibc)
import Glibc
#endif

/// A one-request-per-connection HTTP/1.1 server on 127.0.0.1: `/old`
/// redirects to `/new`; `/new` answers `[]` and says in `X-Body-Length`
/// how many body bytes it read and in `X-Accept` the Accept header it got.
private final class TinyHTTPServer: Sendable {
    let port: UInt16
    private let listener: Int32

    init() throws {
        guard let (fd, port) = loopbackListener(backlog: 8) else { throw DICOMwebError("test server: cannot listen") }
        listener = fd
        self.port = port
        Thread.detachNewThread {
            while true {
                let connection = accept(fd, nil, nil)
                guard connection >= 0 else { return }
                Self.answer(connection)
                close(connection)
            }
        }
    }

    deinit { shutdown(listener, Int32(SHUT_RDWR)); close(listener) }

    private static func answer(_ connection: Int32) {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var headerEnd: Int?
        var bodyLength = 0
        while headerEnd == nil || received.count < headerEnd! + bodyLength {
            let n = read(connection, &buffer, buffer.count)
            guard n > 0 else { return }
            received += buffer[..<n]
            if headerEnd == nil, let end = String(decoding: received, as: UTF8.self).range(of: "\r\n\r\n") {
                let head = String(decoding: received, as: UTF8.self)[..<end.lowerBound]
                headerEnd = head.utf8.count + 4
                bodyLength = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            }
        }
        let head = String(decoding: received[..<headerEnd!], as: UTF8.self)
        let accept = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("accept:") }?.dropFirst(7)
            .trimmingCharacters(in: .whitespaces) ?? ""
        let reply = head.hasPrefix("GET /old ")
            ? "HTTP/1.1 302 Found\r\nLocation: /new\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            : "HTTP/1.1 200 OK\r\nContent-Type: application/dicom+json\r\nX-Body-Length: \(bodyLength)\r\n"
                + "X-Accept: \(accept)\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]"
        _ = reply.utf8CString.withUnsafeBufferPointer { write(connection, $0.baseAddress, $0.count - 1) }
    }
}

@Suite struct HTTPTests {
    @Test func lastHeaderBlockWins() {
        let raw = Data("HTTP/1.1 302 Found\r\nLocation: /new\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type:  a/b \r\nX-Y: 1\r\n\r\n".utf8)
        #expect(HTTPResponse.parseHeaders(raw) == ["content-type": "a/b", "x-y": "1"])
    }

    @Test func getFollowsRedirectsAndKeepsHeaders() async throws {
        let server = try TinyHTTPServer()
        var request = HTTPRequest(url: URL(string: "http://127.0.0.1:\(server.port)/old")!)
        request.setHeader("Accept", "text/plain")
        request.setHeader("accept", "application/dicom+json")
        let response = try await HTTPClient.perform(request)
        #expect(response.statusCode == 200)
        #expect(response.body == Data("[]".utf8))
        #expect(response.header("Content-Type") == "application/dicom+json")
        #expect(response.header("X-Accept") == "application/dicom+json")
        #expect(response.header("Location") == nil)
    }

    @Test func postUploadsAFileAndDownloadsToAFile() async throws {
        let server = try TinyHTTPServer()
        let folder = NSTemporaryDirectory() + "discport-http-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let upload = URL(fileURLWithPath: folder + "/body")
        try Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0) }).write(to: upload)
        let request = HTTPRequest(url: URL(string: "http://127.0.0.1:\(server.port)/new")!, method: "POST")
        let posted = try await HTTPClient.perform(request, uploading: upload)
        #expect(posted.header("X-Body-Length") == "300000")

        let download = URL(fileURLWithPath: folder + "/response")
        let fetched = try await HTTPClient.perform(HTTPRequest(url: request.url), downloadingTo: download)
        #expect(fetched.statusCode == 200 && fetched.body.isEmpty)
        #expect(try Data(contentsOf: download) == Data("[]".utf8))
    }

    @Test func aLineBreakInAHeaderIsRefused() async throws {
        var request = HTTPRequest(url: URL(string: "http://127.0.0.1:1/dicom-web/studies")!)
        request.setHeader("Authorization", "Bearer x\r\nX-Injected: 1")
        await #expect {
            try await HTTPClient.perform(request)
        } throws: { error in
            "\(error)".contains("Authorization header holds a line break")
        }
    }

    @Test func refusedConnectionNamesTheURL() async throws {
        let url = URL(string: "http://127.0.0.1:1/dicom-web/studies")!
        await #expect {
            try await HTTPClient.perform(HTTPRequest(url: url))
        } throws: { error in
            "\(error)".hasPrefix(url.absoluteString + ": ") && "\(error)".contains("127.0.0.1")
        }
    }
}
