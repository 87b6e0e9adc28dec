import CCurl
import Foundation

/// One HTTP request, as DICOMweb sends it.
struct HTTPRequest: Sendable {
    var url: URL
    var method = "GET"
    /// Header fields in the order they are sent.
    var headers: [(name: String, value: String)] = []
    /// Seconds to connect, and seconds without a byte before the exchange is given up.
    var timeout: TimeInterval = 60

    mutating func setHeader(_ name: String, _ value: String) {
        headers.removeAll { $0.name.caseInsensitiveCompare(name) == .orderedSame }
        headers.append((name, value))
    }
}

/// The final response to an `HTTPRequest` (after redirects).
struct HTTPResponse: Sendable {
    var statusCode: Int
    /// Header fields by lowercased name.
    var headers: [String: String]
    /// The body, unless it was downloaded to a file.
    var body: Data

    func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// The fields of the last header block in `raw` (every redirect or
    /// interim response starts a block with its status line).
    static func parseHeaders(_ raw: Data) -> [String: String] {
        var fields: [String: String] = [:]
        for line in String(decoding: raw, as: UTF8.self).split(whereSeparator: \.isNewline) {
            if line.hasPrefix("HTTP/") {
                fields = [:]
            } else if let colon = line.firstIndex(of: ":") {
                fields[line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()] =
                    line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return fields
    }
}

/// HTTP through libcurl, which is loaded on first use (see CCurl.h: linking
/// it, or FoundationNetworking, costs every discport process ~10 ms of start-up).
enum HTTPClient {
    /// Sends `request` with the contents of `upload` as its body (a POST), or
    /// none; the response body goes to `download` if given, else into memory.
    /// Throws when no response arrived; any status is a response.
    static func perform(_ request: HTTPRequest, uploading upload: URL? = nil, downloadingTo download: URL? = nil) async throws -> HTTPResponse {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPResponse, any Error>) in
            // libcurl blocks: off the cooperative pool.
            DispatchQueue.global().async {
                continuation.resume(with: Result { try performBlocking(request, uploading: upload, downloadingTo: download) })
            }
        }
    }

    private static func performBlocking(_ request: HTTPRequest, uploading upload: URL?, downloadingTo download: URL?) throws -> HTTPResponse {
        // A line break would end the field and start another (a secret
        // from the environment could smuggle headers in).
        if let field = request.headers.first(where: { ($0.name + $0.value).unicodeScalars.contains { $0 == "\r" || $0 == "\n" } }) {
            throw DICOMwebError("\(request.url.absoluteString): the \(field.name) header holds a line break; refused")
        }
        let lines = request.headers.map { strdup("\($0.name): \($0.value)") }
        defer { lines.forEach { free($0) } }
        var raw = discport_http_response()
        defer { discport_http_response_free(&raw) }
        let result = lines.map { UnsafePointer($0) }.withUnsafeBufferPointer { headers in
            discport_http_perform(request.method, request.url.absoluteString, headers.baseAddress, Int32(headers.count),
                                  upload?.path, download?.path, max(1, Int(request.timeout.rounded(.up))), &raw)
        }
        guard result == 0 else {
            let reason = withUnsafeBytes(of: raw.error) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            throw DICOMwebError("\(request.url.absoluteString): \(reason)")
        }
        let headers = raw.headers.map { Data(bytes: $0, count: raw.headers_length) } ?? Data()
        let body = raw.body.map { Data(bytes: $0, count: raw.body_length) } ?? Data()
        return HTTPResponse(statusCode: raw.status, headers: HTTPResponse.parseHeaders(headers), body: body)
    }
}
