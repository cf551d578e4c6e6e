/// A numpy array of unsigned bytes as a pickle rebuilds it: `_reconstruct(ndarray, (0,), b'b')`
/// makes it empty, `BUILD` with `(version, shape, dtype, is_fortran, data)` fills it.
final class NumpyByteArray: PickleNative {
    private(set) var shape: [Int] = [0]
    private(set) var bytes: [UInt8] = []
    private(set) var filled = false
    var typeName: String { "numpy.ndarray" }

    fileprivate func fill(shape: [Int], bytes: [UInt8]) {
        self.shape = shape
        self.bytes = bytes
        filled = true
    }
}

/// A numpy dtype as a pickle rebuilds it: `dtype('u1', False, True)`, then `BUILD` with
/// `(3, '|', None, None, None, -1, -1, 0)`.
final class NumpyDType: PickleNative {
    let name: String
    var typeName: String { "numpy.dtype" }
    init(name: String) { self.name = name }
}

/// What a pickle of plain data with numpy uint8 arrays may use (the python version of CIFAR):
/// `numpy.core.multiarray._reconstruct` (or `numpy._core.…` of numpy 2), `numpy.ndarray`,
/// `numpy.dtype` for `u1` only, and `_codecs.encode(text, 'latin1')`, which Python 3 writes for
/// bytes under protocol 2. Anything else is refused.
struct NumpyBytesPolicy: PicklePolicy {
    let file: String

    func global(module: String, name: String) throws -> PickleValue {
        switch (module, name) {
        case ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
             ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"):
            return .global(module: module, name: name)
        default:
            throw PickleError.refusedGlobal(file: file, global: "\(module).\(name)", hint: nil)
        }
    }

    func call(_ callable: PickleValue, _ args: [PickleValue]) throws -> PickleValue {
        guard case let .global(module, name) = callable else {
            throw PickleError.unsupported(file: file, reason: "a call of a \(callable.typeName)")
        }
        func bad() -> PickleError {
            .unsupported(file: file, reason: "\(module).\(name) with arguments (\(args.map(\.typeName).joined(separator: ", ")))")
        }
        switch name {
        case "_reconstruct":
            guard args.count == 3, case .global("numpy", "ndarray") = args[0] else { throw bad() }
            return .native(NumpyByteArray())
        case "dtype":
            guard (1...3).contains(args.count), let type = args[0].text else { throw bad() }
            guard type == "u1" || type == "uint8" else {
                throw PickleError.unsupported(file: file, reason: "numpy dtype '\(type.prefix(16))' (only uint8 arrays are read)")
            }
            return .native(NumpyDType(name: "u1"))
        case "encode":
            guard args.count == 2, case let .string(text) = args[0], args[1].text == "latin1" || args[1].text == "latin-1" else {
                throw bad()
            }
            var out: [UInt8] = []
            out.reserveCapacity(text.unicodeScalars.count)
            for scalar in text.unicodeScalars {
                guard scalar.value < 256 else { throw PickleError.unsupported(file: file, reason: "_codecs.encode of a non-latin-1 character") }
                out.append(UInt8(scalar.value))
            }
            return .bytes(out)
        default:
            throw bad()
        }
    }

    func build(_ object: PickleNative, state: PickleValue) throws {
        switch object {
        case is NumpyDType:
            // (3, byteorder, subarray, names, fields, elsize, alignment, flags): for u1 only the
            // byte order can vary, and a single byte has none.
            guard let items = state.items, items.count >= 2, let order = items[1].text, ["|", "<", ">", "="].contains(order) else {
                throw PickleError.unsupported(file: file, reason: "numpy dtype state")
            }
        case let array as NumpyByteArray:
            guard !array.filled, let items = state.items, items.count == 5, let shapeItems = items[1].items,
                  case let .native(d) = items[2], d is NumpyDType else {
                throw PickleError.unsupported(file: file, reason: "numpy array state (expected version, shape, uint8 dtype, order, data)")
            }
            let shape = shapeItems.compactMap(\.intValue)
            guard shape.count == shapeItems.count, shape.count <= 8, shape.allSatisfy({ $0 >= 0 }) else {
                throw PickleError.unsupported(file: file, reason: "numpy array shape")
            }
            var count = 1
            for n in shape {
                let (c, overflow) = count.multipliedReportingOverflow(by: n)
                guard !overflow else { throw PickleError.unsupported(file: file, reason: "numpy array shape \(shape) overflows") }
                count = c
            }
            if items[3].intValue == 1, shape.filter({ $0 > 1 }).count > 1 {
                throw PickleError.unsupported(file: file, reason: "a Fortran-ordered numpy array")
            }
            guard case let .bytes(data) = items[4] else {
                throw PickleError.unsupported(file: file, reason: "numpy array data of type \(items[4].typeName)")
            }
            guard data.count == count else {
                throw PickleError.unsupported(file: file, reason: "numpy array of shape \(shape) with \(data.count) bytes of data")
            }
            array.fill(shape: shape, bytes: data)
        default:
            throw PickleError.unsupported(file: file, reason: "setting the state of a \(object.typeName)")
        }
    }

    func persistentLoad(_ id: PickleValue) throws -> PickleValue {
        throw PickleError.unsupported(file: file, reason: "a persistent id (not used by plain pickles)")
    }
}
