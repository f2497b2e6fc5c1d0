/// A Hockney fit `t = α + m/B` of measured one-way message times.
public struct LatencyBandwidthFit: Sendable, Equatable {
    /// α in seconds.
    public var latencySeconds: Double
    /// B in bytes per second.
    public var bytesPerSecond: Double
    /// Root mean square of the relative residuals `(fit − t)/t` over the points fitted.
    public var relativeRMS: Double

    /// The fitted time of a message of `bytes`.
    public func seconds(_ bytes: Double) -> Double { latencySeconds + bytes / bytesPerSecond }
}

/// A fit that may switch regime (eager to rendezvous) at `thresholdBytes`.
public struct PiecewiseFit: Sendable, Equatable {
    /// Messages below the threshold (or all, when there is no switch).
    public var small: LatencyBandwidthFit
    /// Messages of at least `thresholdBytes`, when a switch shows.
    public var large: LatencyBandwidthFit?
    /// The first size of the large regime.
    public var thresholdBytes: Int?
}

/// Fitting latency and bandwidth to measurements (`spsim calibrate`).
public enum Calibration {
    /// The largest `|model(m) − t| / t` over the samples with `t > 0`: how far the fit is
    /// from its worst point (0 for an exact fit; 0.5 means some size is off by half).
    public static func worstRelativeResidual(_ samples: [(bytes: Int, seconds: Double)],
                                             model: (Int) -> Double) -> Double {
        samples.filter { $0.seconds > 0 }.map { abs(model($0.bytes) - $0.seconds) / $0.seconds }.max() ?? 0
    }

    /// Weighted least squares of `t = α + m·β` minimizing relative residuals (weights 1/t²),
    /// so microsecond and millisecond points count alike. α is clamped at zero; nil when
    /// the points cannot determine a positive bandwidth.
    public static func fit(_ samples: [(bytes: Int, seconds: Double)]) -> LatencyBandwidthFit? {
        let pts = samples.filter { $0.seconds > 0 }
        guard pts.count >= 2, Set(pts.map(\.bytes)).count >= 2 else { return nil }
        var sw = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0
        for p in pts {
            let w = 1 / (p.seconds * p.seconds), x = Double(p.bytes)
            sw += w; sx += w * x; sy += w * p.seconds; sxx += w * x * x; sxy += w * x * p.seconds
        }
        let det = sw * sxx - sx * sx
        guard det > 0 else { return nil }
        var beta = (sw * sxy - sx * sy) / det
        var alpha = (sy - beta * sx) / sw
        if alpha < 0 {  // refit through the origin
            alpha = 0
            beta = sxy / sxx
        }
        guard beta > 0 else { return nil }
        let rms = (pts.map { p in
            let r = (alpha + Double(p.bytes) * beta - p.seconds) / p.seconds
            return r * r
        }.reduce(0, +) / Double(pts.count)).squareRoot()
        return LatencyBandwidthFit(latencySeconds: alpha, bytesPerSecond: 1 / beta, relativeRMS: rms)
    }

    /// One fit, or two when splitting the sizes (sorted) at some point, with at least
    /// three sizes on each side, lowers the relative RMS by more than a third.
    public static func piecewiseFit(_ samples: [(bytes: Int, seconds: Double)]) -> PiecewiseFit? {
        guard let single = fit(samples) else { return nil }
        let sizes = Array(Set(samples.map(\.bytes))).sorted()
        var best: (small: LatencyBandwidthFit, large: LatencyBandwidthFit, threshold: Int, rms: Double)?
        if sizes.count >= 6 {
            for i in 3...(sizes.count - 3) {
                let threshold = sizes[i]
                guard let a = fit(samples.filter { $0.bytes < threshold }),
                      let b = fit(samples.filter { $0.bytes >= threshold }) else { continue }
                let na = Double(samples.filter { $0.bytes < threshold }.count), nb = Double(samples.count) - na
                let rms = ((a.relativeRMS * a.relativeRMS * na + b.relativeRMS * b.relativeRMS * nb) / (na + nb)).squareRoot()
                if rms < (best?.rms ?? .infinity) { best = (a, b, threshold, rms) }
            }
        }
        if let best, best.rms < single.relativeRMS * 2 / 3 {
            return PiecewiseFit(small: best.small, large: best.large, thresholdBytes: best.threshold)
        }
        return PiecewiseFit(small: single, large: nil, thresholdBytes: nil)
    }
}
