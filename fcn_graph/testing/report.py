"""The result of a kernel or upsampler check: per factor, the differences and the named cause."""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Cause:
    """A known bug whose numbers match the checked output (or kernel) exactly.

    `name` is stable and meant for tests (`"factor-parity-centre"`,
    `"off-diagonal"`, `"kernel-size"`, `"kernel-layout"`,
    `"corner-aligned-sampling"`, `"align-corners"`, `"transposed-conv-crop"`,
    `"border-mode"`); `text` says what the numbers show and the fix.
    """
    name: str
    text: str

    def __str__(self):
        return f"{self.name}: {self.text}"


@dataclass(frozen=True)
class KernelFacts:
    """What a kernel check found in the kernel itself."""
    size: int            # side k of the checked kernel
    expected_size: int   # 2f - f % 2
    max_diff: float | None  # max |kernel - bilinear_kernel(f, C)|; None when the sizes differ
    off_diagonal: float  # largest |w[:, :, i, j]| with i != j


@dataclass(frozen=True)
class FactorCheck:
    """One factor over every input size; differences are None where an output had another size."""
    factor: int
    input_sizes: tuple
    output_sizes: tuple
    max_diff: float | None
    border_diff: float | None  # in the outer floor(f / 2) band; None when it is empty (f = 1)
    interior_diff: float | None
    passed: bool
    causes: tuple = ()
    kernel: KernelFacts | None = None

    @property
    def cause_names(self):
        return tuple(cause.name for cause in self.causes)


def format_number(value):
    if value is None:
        return "-"
    return "0" if value == 0 else f"{value:.3g}"


def format_size(size):
    return "x".join(str(side) for side in size)


def markdown_table(headers, rows):
    """A pipe table, padded so that it also reads aligned in a terminal."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]

    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


@dataclass(frozen=True)
class CheckReport:
    """Every factor of one check; `str(report)` is the table and the diagnosis."""
    subject: str
    reference: str
    tolerance: float
    checks: tuple = field(default_factory=tuple)

    @property
    def passed(self):
        return all(check.passed for check in self.checks)

    @property
    def failures(self):
        return tuple(check for check in self.checks if not check.passed)

    def at(self, factor):
        """The check of one factor."""
        for check in self.checks:
            if check.factor == factor:
                return check
        raise KeyError(f"factor {factor} was not checked; checked: "
                       f"{', '.join(str(c.factor) for c in self.checks)}")

    def table(self):
        with_kernel = any(check.kernel for check in self.checks)
        headers = ["factor"]
        if with_kernel:
            headers += ["kernel", "kernel diff", "off-diagonal"]
        headers += ["output", "max diff", "border", "interior", "result"]
        rows = []
        for check in self.checks:
            row = [str(check.factor)]
            if with_kernel:
                facts = check.kernel
                size = f"{facts.size}x{facts.size}"
                if facts.size != facts.expected_size:
                    size += f" (not {facts.expected_size}x{facts.expected_size})"
                row += [size, format_number(facts.max_diff), format_number(facts.off_diagonal)]
            result = "ok" if check.passed else " ".join(("FAIL",) + check.cause_names)
            row += [", ".join(format_size(s) for s in check.output_sizes),
                    format_number(check.max_diff), format_number(check.border_diff),
                    format_number(check.interior_diff), result]
            rows.append(row)
        return markdown_table(headers, rows)

    def diagnosis(self):
        """One line per cause found, one per failure no known bug explains."""
        lines = []
        for check in self.failures:
            if not check.causes:
                lines.append(f"factor {check.factor}: no known bug fits the numbers exactly")
            lines += [f"factor {check.factor}: {cause}" for cause in check.causes]
        return lines

    def summary(self):
        factors = ", ".join(str(check.factor) for check in self.checks)
        if self.passed:
            return f"all {len(self.checks)} factors ({factors}) match"
        failed = ", ".join(str(check.factor) for check in self.failures)
        return f"FAILED at factor {failed} of {factors}"

    def __str__(self):
        head = f"{self.subject} against {self.reference}; tolerance {self.tolerance:g}"
        return "\n".join([head, self.table()] + self.diagnosis() + [self.summary()])
