import DICOMCore

/// The response of a DIMSE-N service (PS3.7 Tables 10.3-2 to 10.3-12; `NGetResponse` and the
/// others of `NService.swift`). The six have the same elements but one of the service's own: Event
/// Type ID (N-EVENT-REPORT), Attribute Identifier List (N-GET, N-SET) and Action Type ID (N-ACTION),
/// each a property of that name on its service's response only.
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

    /// `hasDataSet` is true by default for N-GET (its Attribute List follows), false for the others.
    public init(messageIDBeingRespondedTo: UInt16, status: UInt16, affectedSOPClassUID: String? = nil,
                affectedSOPInstanceUID: String? = nil, hasDataSet: Bool = Service.responseField == .nGetResponse,
                errorID: UInt16? = nil, errorComment: String? = nil) {
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
    /// UID (0000,1000) and the service's own element, in tag order.
    static var elements: [CommandElement<Self>] {
        var elements = responseElements + [
            .errorComment, .optionalUInt16(CommandTag.errorID, \.errorID),
            .optionalUID(CommandTag.affectedSOPInstanceUID, \.affectedSOPInstanceUID),
        ]
        switch Service.responseField {
        case .nEventReportResponse: elements.append(.optionalUInt16(CommandTag.eventTypeID, \.typeID))
        case .nGetResponse, .nSetResponse: elements.append(.optionalTags(CommandTag.attributeIdentifierList, \.attributes))
        case .nActionResponse: elements.append(.optionalUInt16(CommandTag.actionTypeID, \.typeID))
        default: break
        }
        return elements
    }

    static var placeholder: Self { Self(messageIDBeingRespondedTo: 0, status: 0) }
}

// The service's own element, on its service's responses only. Set it after building the
// response, as pynetdicom sets a primitive's attributes: `rsp.actionTypeID = 2`.

extension NResponse where Service == NEventReport {
    /// Event Type ID (0000,1002).
    public var eventTypeID: UInt16? { get { typeID } set { typeID = newValue } }
}

extension NResponse where Service == NAction {
    /// Action Type ID (0000,1008).
    public var actionTypeID: UInt16? { get { typeID } set { typeID = newValue } }
}

extension NResponse where Service: NAttributeListService {
    /// Attribute Identifier List (0000,1005).
    public var attributeIdentifierList: [Tag]? { get { attributes } set { attributes = newValue } }
}
