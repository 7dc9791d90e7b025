"""Import time of the package in a fresh interpreter (extension, backends, subpackages)."""


def timeraw_import_inferplan():
    return "import inferplan"


timeraw_import_inferplan.timeout = 120
