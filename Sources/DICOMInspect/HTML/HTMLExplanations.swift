/// A sentence per finding code for the HTML report: what it means for the person debugging,
/// beside the finding's own message (which says what was seen).
enum HTMLExplanations {
    static func text(for code: Finding.Code) -> String? {
        switch code.rawValue {
        case Finding.Code.malformedPDU.rawValue:
            return "A PDU did not follow PS3.8: a peer sent bytes the other cannot parse; expect an A-ABORT."
        case Finding.Code.framingLost.rawValue, Finding.Code.resynchronized.rawValue:
            return "The PDU boundaries were lost (usually bytes missing from the capture); later PDUs were found again by their headers."
        case Finding.Code.streamGap.rawValue:
            return "Bytes of the TCP stream are missing from the capture (packet loss at the capture point or a cut snapshot length); what they held is unknown."
        case Finding.Code.pduExceedsMaximumLength.rawValue:
            return "A PDU is longer than the receiver's Maximum Length: strict peers abort the association."
        case Finding.Code.pdvOnUnacceptedContext.rawValue:
            return "Data sent on a presentation context the acceptor did not accept: the SCU ignored the negotiation."
        case Finding.Code.commandNotDecodable.rawValue, Finding.Code.dimseAssemblyError.rawValue:
            return "A DIMSE command could not be read: the peer's message does not follow PS3.7."
        case Finding.Code.dataSetNotDecodable.rawValue:
            return "A data set could not be decoded in its context's transfer syntax (wrong encoding, or inflated past the limit)."
        case Finding.Code.responseToUnknownMessage.rawValue:
            return "A response names a Message ID no open request has: the SCP answered the wrong request, or the request was not captured."
        case Finding.Code.duplicateMessageID.rawValue:
            return "Two open requests share a Message ID: their responses cannot be told apart."
        case Finding.Code.statusNotDefinedForService.rawValue:
            return "The status code is not one the service's class defines (PS3.4); SCUs may treat it as a failure."
        case Finding.Code.unansweredRequest.rawValue:
            return "A request got no final response before the association ended: the SCP was slow, stuck, or aborted."
        case Finding.Code.startedMidAssociation.rawValue:
            return "The capture began after the association was negotiated: AE titles and contexts are unknown or inferred."
        case Finding.Code.transferSyntaxInferred.rawValue:
            return "The negotiation was not captured; the transfer syntax was inferred from the data."
        case Finding.Code.dataAfterRelease.rawValue:
            return "Data was sent after A-RELEASE-RQ: PS3.8 allows only the release reply then."
        case Finding.Code.unexpectedPDU.rawValue:
            return "A PDU arrived in a state where PS3.8 does not allow it (Table 9-10)."
        case Finding.Code.finalResponseWithDataSet.rawValue:
            return "A final response carries a data set; PS3.4 puts identifiers only in pending responses, and SCUs may count it as a match or ignore it."
        case Finding.Code.pendingResponseWithoutDataSet.rawValue:
            return "A pending response without an identifier: the match it announces has no content."
        case Finding.Code.multiplePendingResponses.rawValue:
            return "More than one match where the service allows one (Relevant Patient Information: 0xC100 is due instead)."
        case Finding.Code.missingContentTemplateSequence.rawValue:
            return "The Relevant Patient Information query lacks Content Template Sequence; the SCP cannot know which template to build."
        case Finding.Code.dataSetNotKept.rawValue:
            return "A long data set could not be spooled: a replay cannot send it."
        case Finding.Code.findingsTruncated.rawValue:
            return "More findings than the limit (--max-findings): the rest were counted, not kept."
        case Finding.Code.tooManyOpenRequests.rawValue:
            return "More requests open at once than the limit (--max-open-requests): the rest were not followed."
        case Finding.Code.responsesTruncated.rawValue:
            return "An exchange got more responses than the limit (--max-kept-responses): every one was relayed and counted, the first ones and the last were kept."
        default:
            return nil
        }
    }
}
