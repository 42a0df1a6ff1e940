import DICOMCore

/// The response of a DIMSE-N service (PS3.7 Tables 10.3-2 to 10.3-12; `NGetResponse` and the
/// others of `NService.swift`). The six have the same elements, and four of them one more of their
/// service's own: Event Type ID (N-EVENT-REPORT), Attribute Identifier List (N-GET, N-SET) and Action
/// Type ID (N-ACTION), each a property and an initialiser parameter of that name on its service's
/// response only.
public struct NResponse<Service: NService>: DIMSEResponse, ResponseCoding {
    public static var commandField: CommandField { Service.responseField }
    public var messageIDBeingRespondedTo: UInt16
    public var affectedSOPClassUID: String?
    public var affectedSOPInstanceUID: String?
    public var status: UInt16
    public var errorID: UInt16?
    public var errorComment: String?
    public var commandDataSetType: UInt16
    public internal(set) var decodedCommandSet: Dataset?
    /// Event Type ID (0000,1002) or Action Type ID (0000,1008): `eventTypeID`, `actionTypeID`.
    var typeID: UInt16?
    /// Attribute Identifier List (0000,1005): `attributeIdentifierList`.
    var attributes: [Tag]?

    /// The fields every DIMSE-N response has; the public initialisers (below, one per service) add the service's own.
    init(respondingTo messageIDBeingRespondedTo: UInt16, status: UInt16, affectedSOPClassUID: String?,
         affectedSOPInstanceUID: String?, hasDataSet: Bool, errorID: UInt16?, errorComment: String?) {
        self.messageIDBeingRespondedTo = messageIDBeingRespondedTo
        self.affectedSOPClassUID = affectedSOPClassUID
        self.affectedSOPInstanceUID = affectedSOPInstanceUID
        self.status = status
        self.errorID = errorID
        self.errorComment = errorComment
        self.commandDataSetType = hasDataSet ? CommandDataSetType.dataSetPresent : CommandDataSetType.noDataSet
    }

    public init(commandSet: Dataset) throws(DIMSEError) { try self.init(decoding: commandSet) }

    public var commandSet: Dataset { encodedElements }

    /// `responseElements`, then Error Comment (0000,0902), Error ID (0000,0903), Affected SOP Instance
    /// UID (0000,1000) and the service's own element, if any, in tag order.
    static var elements: [CommandElement<Self>] {
        let common: [CommandElement<Self>] = responseElements + [
            .errorComment, .optionalUInt16(CommandTag.errorID, \.errorID),
            .optionalUID(CommandTag.affectedSOPInstanceUID, \.affectedSOPInstanceUID),
        ]
        switch Service.responseField {
        case .nEventReportResponse: return common + [.optionalUInt16(CommandTag.eventTypeID, \.typeID)]
        case .nActionResponse: return common + [.optionalUInt16(CommandTag.actionTypeID, \.typeID)]
        default:
            // N-GET-RSP and N-SET-RSP (those `attributeIdentifierList` is on); N-CREATE-RSP and N-DELETE-RSP have none.
            guard Service.self is any NAttributeListService.Type else { return common }
            return common + [.optionalTags(CommandTag.attributeIdentifierList, \.attributes)]
        }
    }

    static var placeholder: Self {
        Self(respondingTo: 0, status: 0, affectedSOPClassUID: nil, affectedSOPInstanceUID: nil, hasDataSet: false,
             errorID: nil, errorComment: nil)
    }
}

extension NResponse where Service == NEventReport {
    public init(messageIDBeingRespondedTo: UInt16, status: UInt16, affectedSOPClassUID: String? = nil,
                affectedSOPInstanceUID: String? = nil, eventTypeID: UInt16? = nil, hasDataSet: Bool = false,
                errorID: UInt16? = nil, errorComment: String? = nil) {
        self.init(respondingTo: messageIDBeingRespondedTo, status: status, affectedSOPClassUID: affectedSOPClassUID,
                  affectedSOPInstanceUID: affectedSOPInstanceUID, hasDataSet: hasDataSet, errorID: errorID,
                  errorComment: errorComment)
        typeID = eventTypeID
    }

    /// Event Type ID (0000,1002).
    public var eventTypeID: UInt16? { get { typeID } set { typeID = newValue } }
}

extension NResponse where Service: NAttributeListService {
    /// `hasDataSet` is true by default for N-GET (the Attribute List follows), false for N-SET.
    public init(messageIDBeingRespondedTo: UInt16, status: UInt16, affectedSOPClassUID: String? = nil,
                affectedSOPInstanceUID: String? = nil, hasDataSet: Bool = Service.responseField == .nGetResponse,
                attributeIdentifierList: [Tag]? = nil, errorID: UInt16? = nil, errorComment: String? = nil) {
        self.init(respondingTo: messageIDBeingRespondedTo, status: status, affectedSOPClassUID: affectedSOPClassUID,
                  affectedSOPInstanceUID: affectedSOPInstanceUID, hasDataSet: hasDataSet, errorID: errorID,
                  errorComment: errorComment)
        attributes = attributeIdentifierList
    }

    /// Attribute Identifier List (0000,1005).
    public var attributeIdentifierList: [Tag]? { get { attributes } set { attributes = newValue } }
}

extension NResponse where Service == NAction {
    public init(messageIDBeingRespondedTo: UInt16, status: UInt16, affectedSOPClassUID: String? = nil,
                affectedSOPInstanceUID: String? = nil, actionTypeID: UInt16? = nil, hasDataSet: Bool = false,
                errorID: UInt16? = nil, errorComment: String? = nil) {
        self.init(respondingTo: messageIDBeingRespondedTo, status: status, affectedSOPClassUID: affectedSOPClassUID,
                  affectedSOPInstanceUID: affectedSOPInstanceUID, hasDataSet: hasDataSet, errorID: errorID,
                  errorComment: errorComment)
        typeID = actionTypeID
    }

    /// Action Type ID (0000,1008).
    public var actionTypeID: UInt16? { get { typeID } set { typeID = newValue } }
}

extension NResponse where Service == NCreate {
    public init(messageIDBeingRespondedTo: UInt16, status: UInt16, affectedSOPClassUID: String? = nil,
                affectedSOPInstanceUID: String? = nil, hasDataSet: Bool = false, errorID: UInt16? = nil,
                errorComment: String? = nil) {
        self.init(respondingTo: messageIDBeingRespondedTo, status: status, affectedSOPClassUID: affectedSOPClassUID,
                  affectedSOPInstanceUID: affectedSOPInstanceUID, hasDataSet: hasDataSet, errorID: errorID,
                  errorComment: errorComment)
    }
}

extension NResponse where Service == NDelete {
    /// N-DELETE-RSP is never followed by a data set.
    public init(messageIDBeingRespondedTo: UInt16, status: UInt16, affectedSOPClassUID: String? = nil,
                affectedSOPInstanceUID: String? = nil, errorID: UInt16? = nil, errorComment: String? = nil) {
        self.init(respondingTo: messageIDBeingRespondedTo, status: status, affectedSOPClassUID: affectedSOPClassUID,
                  affectedSOPInstanceUID: affectedSOPInstanceUID, hasDataSet: false, errorID: errorID,
                  errorComment: errorComment)
    }
}
