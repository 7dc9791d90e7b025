// The private extension module inferplan._core: glue only. Each area
// registers its bindings; defaults, validation and docs live in Python.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void register_chain(py::module_& m);
void register_sizing(py::module_& m);
void register_simulator(py::module_& m);
void register_arrivals(py::module_& m);
void register_codes(py::module_& m);

PYBIND11_MODULE(_core, m) {
  m.doc() = "Compiled kernel of inferplan (private; use the inferplan package).";
  register_chain(m);
  register_sizing(m);
  register_simulator(m);
  register_arrivals(m);
  register_codes(m);
}
