/// A restricted reader of Python pickles: a pickle virtual machine that builds plain data (None,
/// bools, integers, floats, strings, bytes, tuples, lists, dicts) and hands every global, call,
/// `BUILD` and persistent id to a `PicklePolicy` that knows the few reconstructors its file
/// format needs (PyTorch state_dicts, numpy uint8 arrays) and refuses everything else. Nothing in
/// the pickle is executed: a global is a name looked up in the policy, never an import.
///
/// Limits, so hostile input ends in a `PickleError` instead of a crash, a hang or exhausted
/// memory: at most `maxOperations` opcodes, `maxStack` stack entries and `maxMemo` memo entries;
/// containers nest at most `maxDepth` deep; a container may not change after it is put into
/// another one (so no cycles and every recorded depth is final); lengths are checked against the
/// remaining input before anything is allocated. Protocols 0–5 are read, except for the text
/// forms of strings (`STRING`, `UNICODE`), sets, and the object-creating opcodes `INST`, `OBJ`,
/// `NEWOBJ`, `NEWOBJ_EX` and `EXT*`, which no file read here uses.

/// Why a pickle was not read; each description is one line naming the file.
public enum PickleError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The bytes are not a well-formed pickle (truncated, unknown opcode, stack misuse).
    case malformed(file: String, offset: Int, reason: String)
    /// A global the reader does not allow, as `module.name`; `hint` says what to do instead.
    case refusedGlobal(file: String, global: String, hint: String?)
    /// Well-formed, but outside what the reader supports (an opcode, a dtype, a value).
    case unsupported(file: String, reason: String)
    /// Beyond a size limit of the reader.
    case tooLarge(file: String, reason: String)

    /// Names in it may come from a hostile file: control characters are escaped (one line).
    public var description: String { HDF5Error.oneLine(text) }

    private var text: String {
        switch self {
        case let .malformed(file, offset, reason): return "\(file): malformed pickle at byte \(offset): \(reason)"
        case let .refusedGlobal(file, global, hint):
            return "\(file): refused to load the Python global '\(global)' (nothing in the file is executed; "
                + "only plain data and known reconstructors are read)" + (hint.map { "; \($0)" } ?? "")
        case let .unsupported(file, reason): return "\(file): \(reason)"
        case let .tooLarge(file, reason): return "\(file): \(reason)"
        }
    }
}

/// An object a policy builds from a call (a tensor, a numpy array): opaque to the machine.
/// It must hold Swift data only, never `PickleValue`s, so it adds one level of nesting at most.
protocol PickleNative: AnyObject {
    /// The Python type it stands for, for messages (`torch.Tensor`).
    var typeName: String { get }
}

/// A value on the pickle stack.
enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple(PickleTuple)
    case list(PickleList)
    case dict(PickleDict)
    /// A global the policy allowed, by name; what it does is the policy's business.
    case global(module: String, name: String)
    case native(PickleNative)

    /// The Python type name, for messages.
    var typeName: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case let .dict(d): return d.typeName
        case let .global(module, name): return "\(module).\(name)"
        case let .native(n): return n.typeName
        }
    }

    /// How deep containers nest in this value (0 for a scalar).
    var depth: Int {
        switch self {
        case let .tuple(t): return t.depth
        case let .list(l): return l.depth
        case let .dict(d): return d.depth
        case .native: return 1
        default: return 0
        }
    }

    /// The text of a `str`, or of a Python 2 `str` (bytes) decoded as latin-1, as Python 3's
    /// `pickle.load(..., encoding="latin1")` does.
    var text: String? {
        switch self {
        case let .string(s): return s
        case let .bytes(b): return String(String.UnicodeScalarView(b.map { Unicode.Scalar($0) }))
        default: return nil
        }
    }

    var intValue: Int? {
        switch self {
        case let .int(v): return v
        case let .bool(b): return b ? 1 : 0
        default: return nil
        }
    }

    var items: [PickleValue]? {
        switch self {
        case let .tuple(t): return t.items
        case let .list(l): return l.items
        default: return nil
        }
    }
}

/// A hashable dict key: the key types the files read here use.
enum PickleKey: Hashable {
    case none
    case int(Int)
    case string(String)
    case bytes([UInt8])

    init?(_ value: PickleValue) {
        switch value {
        case .none: self = .none
        case let .bool(b): self = .int(b ? 1 : 0)
        case let .int(v): self = .int(v)
        case let .string(s): self = .string(s)
        case let .bytes(b): self = .bytes(b)
        default: return nil
        }
    }

    /// The key as text (a bytes key decoded as latin-1), for messages and lookups.
    var text: String {
        switch self {
        case .none: return "None"
        case let .int(v): return String(v)
        case let .string(s): return s
        case let .bytes(b): return String(String.UnicodeScalarView(b.map { Unicode.Scalar($0) }))
        }
    }
}

/// A container's nesting depth and whether it is sealed (put into another container).
class PickleContainer {
    fileprivate(set) var depth = 1
    fileprivate(set) var sealed = false
}

final class PickleTuple: PickleContainer {
    let items: [PickleValue]
    fileprivate init(_ items: [PickleValue], depth: Int) {
        self.items = items
        super.init()
        self.depth = depth
    }
}

final class PickleList: PickleContainer {
    fileprivate(set) var items: [PickleValue] = []
}

/// A dict or `collections.OrderedDict`, in insertion order.
final class PickleDict: PickleContainer {
    let typeName: String
    private(set) var keys: [PickleKey] = []
    private(set) var values: [PickleValue] = []
    private var index: [PickleKey: Int] = [:]
    /// Attributes set by `BUILD` (a state_dict's `_metadata`); kept, not interpreted.
    fileprivate(set) var attributes: [PickleKey: PickleValue] = [:]

    init(typeName: String = "dict") { self.typeName = typeName }

    var count: Int { keys.count }

    subscript(key: PickleKey) -> PickleValue? { index[key].map { values[$0] } }

    /// The value under a text key stored as `str` or as Python 2 `str` (bytes).
    subscript(text key: String) -> PickleValue? {
        self[.string(key)] ?? self[.bytes(Array(key.utf8))]
    }

    fileprivate func set(_ key: PickleKey, _ value: PickleValue) {
        if let i = index[key] { values[i] = value; return }
        index[key] = keys.count
        keys.append(key)
        values.append(value)
    }
}

/// What a file format allows beyond plain data. Each method throws a `PickleError` for what it
/// refuses.
protocol PicklePolicy {
    /// The value `GLOBAL`/`STACK_GLOBAL` push for `module.name`; throws `refusedGlobal` to refuse.
    func global(module: String, name: String) throws -> PickleValue
    /// `REDUCE`: calls an allowed global with its arguments.
    func call(_ callable: PickleValue, _ args: [PickleValue]) throws -> PickleValue
    /// `BUILD` on a native object (dicts are handled by the machine).
    func build(_ object: PickleNative, state: PickleValue) throws
    /// `PERSID`/`BINPERSID`: the object a persistent id stands for.
    func persistentLoad(_ id: PickleValue) throws -> PickleValue
}

/// The pickle virtual machine.
struct PickleMachine {
    static let defaultMaxOperations = 8_000_000
    let file: String
    var maxOperations = PickleMachine.defaultMaxOperations
    var maxStack = 1_000_000
    var maxMemo = 1_000_000
    var maxDepth = 64

    init(file: String) { self.file = file }

    /// Runs the pickle in `bytes` to its `STOP` and returns the value it leaves.
    func load(_ bytes: [UInt8], policy: PicklePolicy) throws -> PickleValue {
        try bytes.withUnsafeBufferPointer {
            var run = Run(machine: self, input: $0, policy: policy)
            return try run.execute()
        }
    }

    private struct Run {
        let machine: PickleMachine
        let input: UnsafeBufferPointer<UInt8>
        let policy: PicklePolicy
        var position = 0
        var opcodeStart = 0
        var stack: [PickleValue] = []
        var marks: [Int] = []
        var memo: [Int: PickleValue] = [:]

        init(machine: PickleMachine, input: UnsafeBufferPointer<UInt8>, policy: PicklePolicy) {
            self.machine = machine
            self.input = input
            self.policy = policy
        }

        var file: String { machine.file }

        func malformed(_ reason: String) -> PickleError {
            .malformed(file: file, offset: opcodeStart, reason: reason)
        }

        // MARK: Input

        mutating func bytes(_ n: Int) throws -> UnsafeBufferPointer<UInt8> {
            guard n >= 0, n <= input.count - position else {
                throw malformed(n < 0 ? "negative length" : "truncated (needs \(n) more bytes, \(input.count - position) left)")
            }
            defer { position += n }
            return UnsafeBufferPointer(rebasing: input[position..<(position + n)])
        }

        mutating func byte() throws -> UInt8 { try bytes(1)[0] }

        mutating func littleEndian(_ n: Int) throws -> UInt64 {
            let b = try bytes(n)
            var v: UInt64 = 0
            for i in 0..<n { v |= UInt64(b[i]) << (8 * UInt64(i)) }
            return v
        }

        /// A length field of `n` bytes, checked against the input left.
        mutating func length(_ n: Int) throws -> Int {
            let v = try littleEndian(n)
            guard v <= UInt64(input.count - position) else {
                throw malformed("length \(v) exceeds the \(input.count - position) bytes left")
            }
            return Int(v)
        }

        /// A text argument up to its newline (at most 512 bytes).
        mutating func line() throws -> String {
            let limit = min(input.count, position + 512)
            var end = position
            while end < limit, input[end] != 0x0A { end += 1 }
            guard end < limit else { throw malformed("unterminated text argument") }
            let text = try utf8(UnsafeBufferPointer(rebasing: input[position..<end]))
            position = end + 1
            return text
        }

        func utf8(_ b: UnsafeBufferPointer<UInt8>) throws -> String {
            guard let s = String(validating: b, as: UTF8.self) else { throw malformed("string is not valid UTF-8") }
            return s
        }

        // MARK: Stack

        mutating func push(_ v: PickleValue) throws {
            guard stack.count < machine.maxStack else {
                throw PickleError.tooLarge(file: file, reason: "pickle stack exceeds \(machine.maxStack) entries")
            }
            stack.append(v)
        }

        mutating func pop() throws -> PickleValue {
            guard stack.count > (marks.last ?? 0), let v = stack.popLast() else { throw malformed("stack underflow") }
            return v
        }

        /// The value on top of the stack, if it is above the last mark.
        var top: PickleValue? { stack.count > (marks.last ?? 0) ? stack.last : nil }

        /// The items above the last mark, removing them and the mark.
        mutating func popMark() throws -> [PickleValue] {
            guard let m = marks.popLast(), m <= stack.count else { throw malformed("no mark on the stack") }
            let items = Array(stack[m...])
            stack.removeSubrange(m...)
            return items
        }

        /// Seals `child` (a container put into another) and checks the depth it adds.
        func adopt(_ child: PickleValue, parentDepth: Int) throws -> Int {
            switch child {
            case let .list(c): c.sealed = true
            case let .dict(c): c.sealed = true
            case let .tuple(c): c.sealed = true
            default: break
            }
            let depth = max(parentDepth, child.depth + 1)
            guard depth <= machine.maxDepth else {
                throw PickleError.tooLarge(file: file, reason: "containers nest deeper than \(machine.maxDepth) levels")
            }
            return depth
        }

        mutating func makeTuple(_ items: [PickleValue]) throws -> PickleValue {
            var depth = 1
            for item in items { depth = try adopt(item, parentDepth: depth) }
            return .tuple(PickleTuple(items, depth: depth))
        }

        func appendable(_ target: PickleValue, _ what: String) throws -> PickleList {
            guard case let .list(list) = target else { throw malformed("\(what) to a \(target.typeName), not a list") }
            guard !list.sealed else { throw malformed("\(what) to a list already inside another container") }
            return list
        }

        func settable(_ target: PickleValue, _ what: String) throws -> PickleDict {
            guard case let .dict(dict) = target else { throw malformed("\(what) on a \(target.typeName), not a dict") }
            guard !dict.sealed else { throw malformed("\(what) on a dict already inside another container") }
            return dict
        }

        func append(_ items: [PickleValue], to list: PickleList) throws {
            guard list.items.count <= Int.max - items.count else { throw malformed("list too long") }
            for item in items {
                if case let .list(l) = item, l === list { throw malformed("a list appended to itself") }
                list.depth = try adopt(item, parentDepth: list.depth)
                list.items.append(item)
            }
        }

        func set(_ pairs: [PickleValue], in dict: PickleDict) throws {
            guard pairs.count % 2 == 0 else { throw malformed("odd number of items for dict keys and values") }
            for i in stride(from: 0, to: pairs.count, by: 2) {
                guard let key = PickleKey(pairs[i]) else {
                    throw PickleError.unsupported(file: file, reason: "a dict key of type \(pairs[i].typeName) (keys read: str, bytes, int, None)")
                }
                if case let .dict(d) = pairs[i + 1], d === dict { throw malformed("a dict stored in itself") }
                dict.depth = try adopt(pairs[i + 1], parentDepth: dict.depth)
                dict.set(key, pairs[i + 1])
            }
        }

        mutating func memoize(_ index: Int) throws {
            guard let v = top else { throw malformed("memo store with an empty stack") }
            guard memo.count < machine.maxMemo || memo[index] != nil else {
                throw PickleError.tooLarge(file: file, reason: "pickle memo exceeds \(machine.maxMemo) entries")
            }
            memo[index] = v
        }

        mutating func recall(_ index: Int) throws {
            guard let v = memo[index] else { throw malformed("memo entry \(index) was never stored") }
            try push(v)
        }

        func decimal(_ text: String) throws -> Int {
            let t = text.hasSuffix("L") ? String(text.dropLast()) : text
            if let v = Int(t) { return v }
            let digits = t.drop(while: { $0 == "-" || $0 == "+" })
            if !digits.isEmpty, digits.allSatisfy({ $0 >= "0" && $0 <= "9" }) {
                throw PickleError.unsupported(file: file, reason: "integer \(t.prefix(40)) outside the 64-bit range")
            }
            throw malformed("'\(t.prefix(40))' is not an integer")
        }

        /// A little-endian two's-complement integer of `n` bytes (LONG1/LONG4), within 64 bits.
        mutating func long(_ n: Int) throws -> Int {
            let b = try bytes(n)
            guard n > 0 else { return 0 }
            let negative = b[n - 1] & 0x80 != 0
            // Bytes beyond the eighth must be pure sign extension.
            if n > 8 {
                for i in 8..<n where b[i] != (negative ? 0xFF : 0) {
                    throw PickleError.unsupported(file: file, reason: "integer of \(n) bytes outside the 64-bit range")
                }
                if (b[7] & 0x80 != 0) != negative {
                    throw PickleError.unsupported(file: file, reason: "integer of \(n) bytes outside the 64-bit range")
                }
            }
            var v: UInt64 = negative ? ~0 : 0
            for i in 0..<min(n, 8) {
                v &= ~(UInt64(0xFF) << (8 * UInt64(i)))
                v |= UInt64(b[i]) << (8 * UInt64(i))
            }
            return Int(Int64(bitPattern: v))
        }

        mutating func global(_ module: String, _ name: String) throws {
            try push(policy.global(module: module, name: name))
        }

        // MARK: Execution

        mutating func execute() throws -> PickleValue {
            var operations = 0
            while true {
                operations += 1
                guard operations <= machine.maxOperations else {
                    throw PickleError.tooLarge(file: file, reason: "pickle exceeds \(machine.maxOperations) operations")
                }
                opcodeStart = position
                guard position < input.count else { throw malformed("truncated (no STOP opcode)") }
                let op = try byte()
                switch op {
                case 0x80: // PROTO
                    let v = try byte()
                    guard v <= 5 else { throw PickleError.unsupported(file: file, reason: "pickle protocol \(v) (read: 0 to 5)") }
                case 0x95: _ = try littleEndian(8) // FRAME: a length hint only
                case 0x2E: // STOP
                    guard marks.isEmpty, stack.count == 1 else {
                        throw malformed("STOP with \(stack.count) values and \(marks.count) marks on the stack")
                    }
                    return stack[0]
                // Constants and numbers.
                case 0x4E: try push(.none)                                              // NONE
                case 0x88: try push(.bool(true))                                        // NEWTRUE
                case 0x89: try push(.bool(false))                                       // NEWFALSE
                case 0x4B: try push(.int(Int(try byte())))                              // BININT1
                case 0x4D: try push(.int(Int(try littleEndian(2))))                     // BININT2
                case 0x4A: try push(.int(Int(Int32(bitPattern: UInt32(try littleEndian(4)))))) // BININT
                case 0x8A: try push(.int(try long(Int(try byte()))))                    // LONG1
                case 0x8B: // LONG4
                    let n = try length(4)
                    try push(.int(try long(n)))
                case 0x49: // INT: text; Python 2 writes booleans as 00 and 01
                    let t = try line()
                    if t == "00" { try push(.bool(false)) } else if t == "01" { try push(.bool(true)) } else { try push(.int(try decimal(t))) }
                case 0x4C: try push(.int(try decimal(try line())))                      // LONG (text)
                case 0x47: // BINFLOAT: big-endian IEEE double
                    let b = try bytes(8)
                    var v: UInt64 = 0
                    for i in 0..<8 { v = v << 8 | UInt64(b[i]) }
                    try push(.float(Double(bitPattern: v)))
                case 0x46: // FLOAT (text)
                    let t = try line()
                    guard let v = Double(t) else { throw malformed("'\(t.prefix(40))' is not a float") }
                    try push(.float(v))
                // Strings and bytes.
                case 0x58: try push(.string(try utf8(try bytes(try length(4)))))        // BINUNICODE
                case 0x8C: try push(.string(try utf8(try bytes(try length(1)))))        // SHORT_BINUNICODE
                case 0x8D: try push(.string(try utf8(try bytes(try length(8)))))        // BINUNICODE8
                case 0x54: // BINSTRING (Python 2 str): signed 4-byte length
                    let n = Int32(bitPattern: UInt32(try littleEndian(4)))
                    try push(.bytes(Array(try bytes(Int(n)))))
                case 0x55: try push(.bytes(Array(try bytes(try length(1)))))            // SHORT_BINSTRING
                case 0x42: try push(.bytes(Array(try bytes(try length(4)))))            // BINBYTES
                case 0x43: try push(.bytes(Array(try bytes(try length(1)))))            // SHORT_BINBYTES
                case 0x8E: try push(.bytes(Array(try bytes(try length(8)))))            // BINBYTES8
                // Containers.
                case 0x28: // MARK
                    guard marks.count < machine.maxStack else {
                        throw PickleError.tooLarge(file: file, reason: "pickle marks exceed \(machine.maxStack)")
                    }
                    marks.append(stack.count)
                case 0x29: try push(try makeTuple([]))                                  // EMPTY_TUPLE
                case 0x74: try push(try makeTuple(try popMark()))                       // TUPLE
                case 0x85, 0x86, 0x87: // TUPLE1, TUPLE2, TUPLE3
                    let n = Int(op - 0x84)
                    var items: [PickleValue] = []
                    for _ in 0..<n { items.append(try pop()) }
                    try push(try makeTuple(items.reversed()))
                case 0x5D: try push(.list(PickleList()))                                // EMPTY_LIST
                case 0x6C: // LIST
                    let items = try popMark()
                    let list = PickleList()
                    try append(items, to: list)
                    try push(.list(list))
                case 0x61: // APPEND
                    let item = try pop()
                    guard let target = top else { throw malformed("APPEND with no list") }
                    try append([item], to: try appendable(target, "APPEND"))
                case 0x65: // APPENDS
                    let items = try popMark()
                    guard let target = top else { throw malformed("APPENDS with no list") }
                    try append(items, to: try appendable(target, "APPENDS"))
                case 0x7D: try push(.dict(PickleDict()))                                // EMPTY_DICT
                case 0x64: // DICT
                    let items = try popMark()
                    let dict = PickleDict()
                    try set(items, in: dict)
                    try push(.dict(dict))
                case 0x73: // SETITEM
                    let value = try pop(), key = try pop()
                    guard let target = top else { throw malformed("SETITEM with no dict") }
                    try set([key, value], in: try settable(target, "SETITEM"))
                case 0x75: // SETITEMS
                    let items = try popMark()
                    guard let target = top else { throw malformed("SETITEMS with no dict") }
                    try set(items, in: try settable(target, "SETITEMS"))
                // Stack manipulation.
                case 0x30: _ = try pop()                                                // POP
                case 0x31: _ = try popMark()                                            // POP_MARK
                case 0x32: // DUP
                    guard let v = top else { throw malformed("DUP with an empty stack") }
                    try push(v)
                // Memo.
                case 0x70: // PUT (text)
                    let t = try line()
                    guard let i = Int(t), i >= 0 else { throw malformed("bad memo index '\(t.prefix(40))'") }
                    try memoize(i)
                case 0x71: try memoize(Int(try byte()))                                 // BINPUT
                case 0x72: try memoize(Int(try littleEndian(4)))                        // LONG_BINPUT
                case 0x94: try memoize(memo.count)                                      // MEMOIZE
                case 0x67: // GET (text)
                    let t = try line()
                    guard let i = Int(t) else { throw malformed("bad memo index '\(t.prefix(40))'") }
                    try recall(i)
                case 0x68: try recall(Int(try byte()))                                  // BINGET
                case 0x6A: try recall(Int(try littleEndian(4)))                         // LONG_BINGET
                // Globals and calls: all through the policy.
                case 0x63: // GLOBAL
                    let module = try line(), name = try line()
                    try global(module, name)
                case 0x93: // STACK_GLOBAL
                    let name = try pop(), module = try pop()
                    guard case let .string(m) = module, case let .string(n) = name else {
                        throw malformed("STACK_GLOBAL needs two strings, got \(module.typeName) and \(name.typeName)")
                    }
                    try global(m, n)
                case 0x52: // REDUCE
                    let args = try pop(), callable = try pop()
                    guard case let .tuple(t) = args else { throw malformed("REDUCE arguments are a \(args.typeName), not a tuple") }
                    try push(try policy.call(callable, t.items))
                case 0x62: // BUILD
                    let state = try pop()
                    guard let target = top else { throw malformed("BUILD with no object") }
                    switch target {
                    case let .native(object): try policy.build(object, state: state)
                    case let .dict(dict) where !dict.sealed:
                        // A state_dict's `_metadata`: attributes set on the OrderedDict.
                        guard case let .dict(attributes) = state else {
                            throw PickleError.unsupported(file: file, reason: "BUILD of a \(dict.typeName) with a \(state.typeName) state")
                        }
                        for (k, v) in zip(attributes.keys, attributes.values) {
                            _ = try adopt(v, parentDepth: 1)
                            dict.attributes[k] = v
                        }
                    default:
                        throw PickleError.unsupported(file: file, reason: "BUILD of a \(target.typeName)")
                    }
                case 0x51: // BINPERSID
                    let id = try pop()
                    try push(try policy.persistentLoad(id))
                case 0x50: try push(try policy.persistentLoad(.string(try line())))     // PERSID
                case 0x69: // INST: module and class inline, then a call: only through the policy
                    let module = try line(), name = try line()
                    _ = try policy.global(module: module, name: name)
                    throw PickleError.unsupported(file: file, reason: "opcode INST (\(module).\(name))")
                default:
                    let names: [UInt8: String] = [0x53: "STRING", 0x56: "UNICODE", 0x6F: "OBJ", 0x81: "NEWOBJ",
                                                  0x92: "NEWOBJ_EX", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4",
                                                  0x8F: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET",
                                                  0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER"]
                    if let name = names[op] { throw PickleError.unsupported(file: file, reason: "pickle opcode \(name) (not read)") }
                    throw malformed("unknown opcode 0x\(String(op, radix: 16))")
                }
            }
        }
    }
}
