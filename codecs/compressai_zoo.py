"""CompressAI's pretrained MSE/MS-SSIM baselines (the model zoo), with real entropy-coded streams.

One codec per architecture, ``compressai-<arch>``: knob ``quality`` (the zoo's range), option
``metric`` (mse | ms-ssim). Conventions follow CompressAI's own evaluation (compressai.utils.eval_model):
the model is ``update(force=True)``-ed after loading; padding, streams and rounding are those of
rdpbench.learned.compressai_model (centred zero padding to a multiple of 64, rdpbench's
container around the model's strings, reconstructions rounded to uint8), shared with the Python API.
Weights: the zoo's files under their canonical names (e.g. mbt2018-mean-3-723404a8.pth.tar) through
rdpbench.weights (--weights-dir, torch hub cache), loaded with weights_only=True.
"""

from functools import lru_cache
from importlib.metadata import version
from pathlib import PurePosixPath

from rdpbench.codecs.api import Codec, Param
from rdpbench.learned import compressai_model
from rdpbench.learned.checkpoints import load_state_dict
from rdpbench.weights import WeightFile, register

ARCHITECTURES = {  # name: (highest quality, description)
    "bmshj2018-factorized": (8, "Ballé et al. 2018, factorized prior"),
    "bmshj2018-hyperprior": (8, "Ballé et al. 2018, scale hyperprior"),
    "mbt2018-mean": (8, "Minnen et al. 2018, mean & scale hyperprior (HiFiC's MSE baseline)"),
    "mbt2018": (8, "Minnen et al. 2018, joint autoregressive and hierarchical priors"),
    "cheng2020-anchor": (6, "Cheng et al. 2020, anchor"),
    "cheng2020-attn": (6, "Cheng et al. 2020, with attention"),
}
# Bytes of float32 parameters and buffers at the architecture's highest quality (counted from the
# compressai models): a zoo file under a name may be at most SIZE_MARGIN times this (rdpbench.weights).
LARGEST_FILE = {"bmshj2018-factorized": 28_122_236, "bmshj2018-hyperprior": 47_265_416, "mbt2018-mean": 70_246_920,
                "mbt2018": 122_498_508, "cheng2020-anchor": 113_768_748, "cheng2020-attn": 125_900_076}


def zoo_file(architecture: str, metric: str, quality: int) -> str:
    """Canonical file name of a zoo checkpoint; registers it with rdpbench.weights."""
    from compressai.zoo.image import model_urls

    url = model_urls[architecture][metric][quality]
    name = PurePosixPath(url).name
    register(WeightFile(name, url, f"compressai-{architecture} {metric} quality {quality}",
                        size=LARGEST_FILE[architecture]))
    return name


class CompressAIZoo(Codec):
    architecture = ""
    install_hint = "pip install compressai==1.2.8 --no-deps (see requirements-nodeps.txt)"
    defaults_note = ("quality 3, metric mse, centred zero padding to 64, update(force=True): CompressAI's own "
                     "evaluation (compressai.utils.eval_model) behind its published zoo tables")

    def unavailable_reason(self):
        try:
            import compressai.zoo  # noqa: F401
        except ImportError as error:
            return f"compressai cannot be imported ({error})"
        return None

    def version(self):
        return f"compressai {version('compressai')}"

    def weight_names(self, setting):
        return [zoo_file(self.architecture, setting["metric"], setting["quality"])]

    @lru_cache(maxsize=2)  # one model per setting, not per image
    def model(self, metric: str, quality: int, device: str):
        from compressai.zoo.image import model_architectures
        from compressai.zoo.pretrained import load_pretrained

        located = self.context.weights.read(zoo_file(self.architecture, metric, quality))
        state = load_pretrained(load_state_dict(located))
        model = model_architectures[self.architecture].from_state_dict(state).eval()
        model.update(force=True)
        return model.to(device)

    def encode(self, image, setting):
        model = self.model(setting["metric"], setting["quality"], self.context.device)
        return compressai_model.encode(model, image, self.context.device)

    def decode(self, data, setting):
        return compressai_model.decode(self.model(setting["metric"], setting["quality"], self.context.device), data)


def _adapter(architecture: str, top_quality: int, description: str) -> type:
    params = (Param("quality", "int", 3, "zoo quality index", low=1, high=top_quality, rate=True),
              Param("metric", "str", "mse", "distortion the model was trained for", choices=("mse", "ms-ssim")))
    return type(f"CompressAI_{architecture.replace('-', '_')}", (CompressAIZoo,), {
        "__module__": __name__, "name": f"compressai-{architecture}", "architecture": architecture,
        "description": f"CompressAI zoo: {description}", "params": params})


globals().update({cls.__name__: cls for cls in (_adapter(a, top, d) for a, (top, d) in ARCHITECTURES.items())})
