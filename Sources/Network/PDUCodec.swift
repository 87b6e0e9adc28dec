import NIOCore

/// Splits the TCP byte stream into PDUs. A PDU longer than `maximumLength`
/// is a protocol error (the peer ignored the negotiated maximum or is not
/// speaking DICOM); the connection is then aborted by the association.
struct PDUDecoder: ByteToMessageDecoder {
    typealias InboundOut = PDU

    /// Longest variable field accepted for any PDU.
    let maximumLength: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard buffer.readableBytes >= 6,
              let type = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
              let length = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt32.self) else {
            return .needMoreData
        }
        guard Int(length) <= maximumLength else {
            throw PDUError("PDU of \(length) bytes exceeds the maximum of \(maximumLength)")
        }
        guard buffer.readableBytes >= 6 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 6)
        var body = buffer.readSlice(length: Int(length))!
        let pdu = try PDU.decode(type: type, body: &body)
        context.fireChannelRead(wrapInboundOut(pdu))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// Hands received PDUs, the end of the connection and errors to the
/// connection's ``PDUInbox`` (a Sendable queue the async side reads from).
final class InboxHandler: ChannelInboundHandler {
    typealias InboundIn = PDU

    let inbox: PDUInbox

    init(inbox: PDUInbox) {
        self.inbox = inbox
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inbox.deliver(unwrapInboundIn(data))
    }

    /// A read asked for before the channel was active is lost: read once
    /// now (the association request, for an acceptor).
    func channelActive(context: ChannelHandlerContext) {
        context.read()
        context.fireChannelActive()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if inbox.wantsData { context.read() }
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        inbox.finish(with: nil)
        context.fireChannelInactive()
    }

    /// A malformed PDU (too long, unknown type, bad items) ends the
    /// association with an A-ABORT saying why (PS3.8 §9.3.8, state machine
    /// AA-8), then the connection is closed.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        inbox.finish(with: error)
        guard let failure = error as? PDUError, context.channel.isActive else {
            context.close(promise: nil)
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: 10)
        PDU.abort(failure.abort).encode(into: &buffer)
        context.writeAndFlush(NIOAny(buffer)).whenComplete { _ in context.close(promise: nil) }
    }
}
