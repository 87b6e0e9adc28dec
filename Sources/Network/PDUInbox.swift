import NIOCore
import Synchronization

/// Why an association or a network operation failed.
public enum NetworkError: Error, Sendable, CustomStringConvertible {
    /// TCP connection could not be made (refused, unreachable, timed out).
    case connectionFailed(String)
    /// The peer answered the association request with A-ASSOCIATE-RJ.
    case rejected(AssociateReject)
    /// The peer (or discport, on a protocol error) aborted the association.
    case aborted(Abort)
    /// Nothing arrived in time: ARTIM (association and release) or the
    /// DIMSE read timeout.
    case timeout(String)
    /// The peer broke the protocol (malformed or unexpected PDU, message
    /// on a context that was not accepted, …).
    case protocolError(String)
    /// The peer closed the TCP connection without release or abort.
    case connectionClosed
    /// The peer asked to release the association (an acceptor's normal end).
    case releaseRequested
    /// No presentation context was accepted for what is to be sent.
    case noAcceptedContext(String)

    public var description: String {
        switch self {
        case .connectionFailed(let why): return "cannot connect: \(why)"
        case .rejected(let rj): return rj.description
        case .aborted(let abort): return "association \(abort.description)"
        case .timeout(let what): return "timed out waiting for \(what)"
        case .protocolError(let what): return "protocol error: \(what)"
        case .connectionClosed: return "the peer closed the connection"
        case .releaseRequested: return "the peer released the association"
        case .noAcceptedContext(let what): return "no accepted presentation context for \(what)"
        }
    }
}

/// Received PDUs, waiting for the association's task to take them: the
/// hand-over between the event loop (``InboxHandler``) and async code.
///
/// The channel runs with auto-read off: the socket is read only while
/// someone waits here, so a slow consumer (a disk) slows the peer down
/// through TCP instead of filling memory.
final class PDUInbox: Sendable {
    private struct State: ~Copyable {
        var queue: [PDU] = []
        var head = 0
        var waiter: CheckedContinuation<PDU, any Error>?
        var token = 0
        var timer: Scheduled<Void>?
        var end: (any Error)?
    }

    private enum Take {
        case pdu(PDU)
        case failure(any Error)
        case wait(Int)
    }

    private let state = Mutex(State())

    /// Someone is waiting and the queue is empty: the handler reads again.
    var wantsData: Bool {
        state.withLock { $0.waiter != nil }
    }

    func deliver(_ pdu: PDU) {
        let resumed: (CheckedContinuation<PDU, any Error>, Scheduled<Void>?)? = state.withLock { st in
            if let waiter = st.waiter {
                st.waiter = nil
                defer { st.timer = nil }
                return (waiter, st.timer)
            }
            st.queue.append(pdu)
            return nil
        }
        if let (waiter, timer) = resumed {
            timer?.cancel()
            waiter.resume(returning: pdu)
        }
    }

    /// The connection ended (`error` nil: closed by the peer or by us).
    func finish(with error: (any Error)?) {
        let resumed: (CheckedContinuation<PDU, any Error>, Scheduled<Void>?, any Error)? = state.withLock { st in
            if st.end == nil {
                if let error = error as? PDUError {
                    st.end = NetworkError.protocolError(error.message)
                } else {
                    st.end = NetworkError.connectionClosed
                }
            }
            guard let waiter = st.waiter else { return nil }
            st.waiter = nil
            defer { st.timer = nil }
            return (waiter, st.timer, st.end!)
        }
        if let (waiter, timer, end) = resumed {
            timer?.cancel()
            waiter.resume(throwing: end)
        }
    }

    private func expire(_ token: Int, what: String) {
        let waiter: CheckedContinuation<PDU, any Error>? = state.withLock { st in
            guard st.token == token, let waiter = st.waiter else { return nil }
            st.waiter = nil
            st.timer = nil
            return waiter
        }
        waiter?.resume(throwing: NetworkError.timeout(what))
    }

    /// The next PDU, waiting at most `timeout`.
    func next(channel: any Channel, timeout: TimeAmount, waitingFor what: String) async throws -> PDU {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<PDU, any Error>) in
            let take: Take = state.withLock { st in
                if st.head < st.queue.count {
                    let pdu = st.queue[st.head]
                    st.head += 1
                    if st.head == st.queue.count {
                        st.queue.removeAll(keepingCapacity: true)
                        st.head = 0
                    }
                    return .pdu(pdu)
                }
                if let end = st.end { return .failure(end) }
                st.token += 1
                st.waiter = continuation
                return .wait(st.token)
            }
            switch take {
            case .pdu(let pdu):
                continuation.resume(returning: pdu)
            case .failure(let error):
                continuation.resume(throwing: error)
            case .wait(let token):
                let scheduled = channel.eventLoop.scheduleTask(in: timeout) { [self] in
                    self.expire(token, what: what)
                }
                let keep = state.withLock { st -> Bool in
                    guard st.token == token, st.waiter != nil else { return false }
                    st.timer = scheduled
                    return true
                }
                if !keep { scheduled.cancel() }
                channel.read()
            }
        }
    }
}
