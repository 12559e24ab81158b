/// The matrix products of one encoder layer's two sublayers, as one precision runs them: chosen at
/// load, so that the forward pass calls them without asking which (int8 shares one quantization
/// of the input between q, k and v, and runs the MLP's two layers in one pass: `Int8Projections`,
/// `Int8FeedForward`).

/// q, k, v [rows, D] of a layer's normed input.
public protocol Projections: Sendable {
    var q: any LinearKernel { get }
    var k: any LinearKernel { get }
    var v: any LinearKernel { get }
    /// q, k, v = h · wᵀ + b. With `bfloat16` (room for [rows, D] each) the kernel may write them
    /// there as bf16 instead, for the bf16 attention: true then (q, k, v hold nothing of use),
    /// false where q, k, v are written in fp32.
    func apply(_ h: UnsafePointer<Float>, q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>,
               v: UnsafeMutablePointer<Float>, rows: Int,
               bfloat16: (q: UnsafeMutablePointer<UInt16>, k: UnsafeMutablePointer<UInt16>, v: UnsafeMutablePointer<UInt16>)?)
        -> Bool
}

/// x += fc2(act(fc1(h))) over [rows, D].
public protocol FeedForward: Sendable {
    /// - hidden: room for [rows, I] floats; scratch: room for [rows, D] floats.
    func apply(into x: UnsafeMutablePointer<Float>, _ h: UnsafePointer<Float>, rows: Int, activation: Activation,
               hidden: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, threads: Int)
}

/// Three independent linear layers (fp32, bf16).
public struct LinearProjections: Projections {
    public let q: any LinearKernel, k: any LinearKernel, v: any LinearKernel

    public init(q: any LinearKernel, k: any LinearKernel, v: any LinearKernel) {
        (self.q, self.k, self.v) = (q, k, v)
    }

    public func apply(_ h: UnsafePointer<Float>, q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>,
                      v: UnsafeMutablePointer<Float>, rows: Int,
                      bfloat16: (q: UnsafeMutablePointer<UInt16>, k: UnsafeMutablePointer<UInt16>, v: UnsafeMutablePointer<UInt16>)?)
        -> Bool
    {
        self.q.apply(q, h, rows: rows)
        self.k.apply(k, h, rows: rows)
        self.v.apply(v, h, rows: rows)
        return false
    }
}

/// Two independent linear layers (fp32, bf16), the activation on fc1's output.
public struct LinearFeedForward: FeedForward {
    public let fc1: any LinearKernel, fc2: any LinearKernel

    public init(fc1: any LinearKernel, fc2: any LinearKernel) {
        (self.fc1, self.fc2) = (fc1, fc2)
    }

    public func apply(into x: UnsafeMutablePointer<Float>, _ h: UnsafePointer<Float>, rows: Int, activation: Activation,
                      hidden: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, threads: Int) {
        fc1.apply(hidden, h, rows: rows, activation: activation, threads: threads)
        fc2.applyAdding(to: x, hidden, rows: rows, scratch: scratch, threads: threads)
    }
}

/// The int8 layer's products: q, k, v from one quantization of h, straight to bf16 where asked;
/// the MLP's two layers in one pass (`Int8Linear.feedForward`).
public struct Int8Projections: Projections {
    public let int8: (q: Int8Linear, k: Int8Linear, v: Int8Linear)
    public var q: any LinearKernel { int8.q }
    public var k: any LinearKernel { int8.k }
    public var v: any LinearKernel { int8.v }

    public init(q: Int8Linear, k: Int8Linear, v: Int8Linear) {
        int8 = (q, k, v)
    }

    public func apply(_ h: UnsafePointer<Float>, q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>,
                      v: UnsafeMutablePointer<Float>, rows: Int,
                      bfloat16: (q: UnsafeMutablePointer<UInt16>, k: UnsafeMutablePointer<UInt16>, v: UnsafeMutablePointer<UInt16>)?)
        -> Bool
    {
        guard let out = bfloat16 else {
            Int8Linear.apply([(int8.q, q), (int8.k, k), (int8.v, v)], sharing: h, rows: rows)
            return false
        }
        Int8Linear.apply([(int8.q, q, out.q), (int8.k, k, out.k), (int8.v, v, out.v)], sharing: h, rows: rows)
        return true
    }
}

public struct Int8FeedForward: FeedForward {
    public let fc1: Int8Linear, fc2: Int8Linear

    public init(fc1: Int8Linear, fc2: Int8Linear) {
        (self.fc1, self.fc2) = (fc1, fc2)
    }

    public func apply(into x: UnsafeMutablePointer<Float>, _ h: UnsafePointer<Float>, rows: Int, activation: Activation,
                      hidden: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, threads: Int) {
        fc1.feedForward(into: x, h, rows: rows, activation: activation, then: fc2, hidden: hidden, scratch: scratch,
                        threads: threads)
    }
}
