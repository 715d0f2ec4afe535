"""gan_jax: GANs, DCGAN, autoencoders and VAEs (GANs in Action, chapters 1-4) in JAX/Flax NNX.

The library, for research scripts:

    import gan_jax as gj
    gan = gj.GAN(generator=G, discriminator=D, g_tx=optax.adam(2e-4, b1=0.5), d_tx=optax.adam(2e-4, b1=0.5),
                 loss=gj.losses.hinge, z_dim=64, r1_weight=1.0)
    state = gan.init(jax.random.key(0))
    state, metrics = gj.jit(gan.train_step)(state, images)     # images: N x H x W x C in [-1, 1]
    outcome = gj.fit(gan, images, run_dir="runs/mine", steps=5000)   # checkpoints, resume, grids, curves
    gan, state, cfg, step = gj.load_run("runs/mine", engine=gan)   # or trust=True for a `gj.recipe`'s engine
    gj.fit(gj.Seeds(gan, 5), images, run_dir="runs/five", steps=5000)   # 5 seeds in one compiled call

`Game` is the engine (`gan_jax.game`: named players taking turns, each turn training only its own; `Turn`
one turn); `GAN` and `Autoencoder` are presets built on it (`gan_jax.gan`, `gan_jax.autoencode`), `fit` the
run loop for any engine (`gan_jax.run`), `losses` the loss family, `metrics` the evaluator, `models` the book's players,
`data` the data sources, `build` the one reader of experiment configs and `runs` the runs made from them
(what the `gan-jax` command uses), `recipes` how a run records the code that built its engine.

Importing the package changes no environment variable (beyond what importing JAX sets itself). `gj.jit` is `jax.jit` plus, on the CPU only,
the XLA option that runs convolutions on Eigen (`gan_jax.xla`; ~1.2-1.4x faster DCGAN steps here).
"""

from gan_jax import conditional, data, game, losses, metrics, models, pretrained, previews, recipes, sampling, semi_supervised, translation, viz, xla
from gan_jax.autoencode import AEState, Autoencoder
from gan_jax.runs import LoadedRun, load_run
from gan_jax.game import Game, GameState, Transform, Turn
from gan_jax.gan import GAN, GANState, Streams
from gan_jax.recipes import recipe
from gan_jax.run import Outcome, fit, repeat
from gan_jax.seeds import Seeds
from gan_jax.xla import jit

__all__ = ["Game", "GameState", "Transform", "Turn", "recipe", "GAN", "GANState", "Autoencoder", "AEState", "Streams", "fit", "repeat",
           "load_run", "LoadedRun", "Outcome", "Seeds", "jit", "conditional", "game", "losses", "metrics", "models",
           "data", "pretrained", "previews", "recipes", "sampling", "semi_supervised", "translation", "viz", "xla"]
