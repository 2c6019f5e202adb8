"""The official TensorFlow models (tensorflow-compression's ``tfci.py``: hific-lo/mi/hi,
bmshj2018-hyperprior-mse-N, mbt2018-mean-mse-N, ...) run in a separate interpreter, so TensorFlow
never enters rdpbench's process. The stream is tfci's own file (it names the model inside).

Set-up (once, anywhere with TensorFlow): ``python -m venv tfci-env && tfci-env/bin/pip install
tensorflow tensorflow-compression`` and fetch ``models/tfci.py`` from the tensorflow/compression
repository. Then point rdpbench at them:
``export RDPBENCH_TFCI_PYTHON=/path/tfci-env/bin/python RDPBENCH_TFCI_SCRIPT=/path/tfci.py``
(or ``--option python=... --option script=...``). tfci.py downloads each model from Google's
storage on first use and caches it.
"""

import os
from pathlib import Path

from rdpbench.codecs.api import Param
from rdpbench.codecs.command_line import CommandLineCodec


class TFCI(CommandLineCodec):
    name = "tfci"

    def __init__(self, context=None):
        card = {
            "name": "tfci",
            "description": "official TensorFlow compression models via tfci.py in a separate interpreter",
            "install_hint": "set RDPBENCH_TFCI_PYTHON and RDPBENCH_TFCI_SCRIPT (see codecs/tfci.py)",
            "defaults_note": "model hific-lo: the original HiFiC Lo of Mentzer et al. 2020, run by tfci.py unchanged",
            "timeout_s": 900,
            "encode": {"input": "png", "suffix": ".tfci",
                       "argv": ["{python}", "{script}", "compress", "{model}", "{input}", "{output}"]},
            "decode": {"output": "png", "argv": ["{python}", "{script}", "decompress", "{input}", "{output}"]},
        }
        super().__init__(card, __file__, context)
        self.params = (
            Param("model", "str", "hific-lo", "tfci model name (hific-lo|mi|hi, bmshj2018-hyperprior-mse-N, "
                  "mbt2018-mean-mse-N, ...; `tfci.py models` lists them)", rate=True),
            Param("python", "str", os.environ.get("RDPBENCH_TFCI_PYTHON", ""), "interpreter with tensorflow-compression"),
            Param("script", "str", os.environ.get("RDPBENCH_TFCI_SCRIPT", ""), "path to tfci.py"),
        )

    def unavailable_reason(self):
        python, script = (self.param(name).default for name in ("python", "script"))
        if not python or not script:
            return "no tfci interpreter configured (RDPBENCH_TFCI_PYTHON, RDPBENCH_TFCI_SCRIPT)"
        missing = [path for path in (python, script) if not Path(path).is_file()]
        return f"not found: {', '.join(missing)}" if missing else None

    def version(self):
        return f"tfci.py at {self.param('script').default} run by {self.param('python').default}"
