"""The code-writing exercise of each notebook, as the cells that go into it (issue 21).

Each exercise is three cells, inserted after the first cell whose source contains ``after``:

1. a markdown cell stating the exercise (its bold lead-in makes it an exercise for
   ``tests/test_notebook_text.py``);
2. a code cell with nbgrader's solution metadata: the function, its body between
   ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's ``ClearSolutions`` replaces that
   region by ``raise NotImplementedError()`` in the student version);
3. a code cell with nbgrader's test-cell metadata (autograded, locked, 1 point) that calls the check
   in :mod:`cinlab.exercises`.

The student's function has a name no later cell uses, so cells after the exercise run the same in
the student version. ``insert_exercise(nb, key)`` puts an exercise into a notebook (the prototype
test uses it on a copy of notebook 2; the phase-2 pass of issue 21 uses it on the real notebooks).
``tests/test_exercises.py`` runs every solution below against its check, and every stub.
"""

import nbformat

EXERCISES = {
    "01": {
        "notebook": "01_gram_matrices.ipynb",
        "after": "print(cinlab.gram_matrix(features))",
        "function": "gram_matrix",
        "statement": (
            "**Exercise 1 (code) — write `gram_matrix`.** Complete the function below: for features of shape\n"
            "$[B, C, H, W]$ it returns one $C \\times C$ Gram matrix per example, $G = F F^\\top / (HW)$, shape $[B, C, C]$.\n"
            "Reshape each example's features to $F \\in \\mathbb{R}^{C \\times HW}$ (channels first, as the tensor is stored),\n"
            "multiply by the transpose, divide by the number of positions. The cell after it checks your function against\n"
            "`cinlab.gram_matrix` on random inputs and says what is wrong, if anything. (The rest of the notebook uses\n"
            "`cinlab.gram_matrix`.)"
        ),
        "solution": (
            "def gram_matrix(features):\n"
            '    """features: [B, C, H, W] -> [B, C, C], G = F F^T / (H W) for each example."""\n'
            "    ### BEGIN SOLUTION\n"
            "    b, c, h, w = features.shape\n"
            "    flat = features.reshape(b, c, h * w)\n"
            "    return flat @ flat.transpose(1, 2) / (h * w)\n"
            "    ### END SOLUTION"
        ),
        "check": "from cinlab import exercises\n\nexercises.check_gram_matrix(gram_matrix)",
    },
    "02": {
        "notebook": "02_instance_normalization.ipynb",
        "after": "## CIN from scratch",
        "function": "MyCIN",
        "statement": (
            "**Exercise 2 (code) — write CIN.** Below is the module with its two tables of shape $[N, C]$, starting at 1\n"
            "and 0; write its `forward(x, labels)` so that it computes the equation at the top for each example's own style\n"
            "`labels[b]`. `torch.nn.functional.instance_norm` does the normalisation: statistics per example and channel over\n"
            "$H, W$, the biased variance, $\\epsilon = 10^{-5}$ inside the square root. Then pick each example's rows and\n"
            "broadcast them over $H, W$. The check compares your layer with `ConditionalInstanceNorm2d` holding the same tables,\n"
            "also on a nearly constant input where $\\epsilon$ matters."
        ),
        "solution": (
            "class MyCIN(torch.nn.Module):\n"
            "    def __init__(self, channels, num_styles):\n"
            "        super().__init__()\n"
            "        self.gamma = torch.nn.Parameter(torch.ones(num_styles, channels))\n"
            "        self.beta = torch.nn.Parameter(torch.zeros(num_styles, channels))\n"
            "\n"
            "    def forward(self, x, labels):\n"
            '        """x: [B, C, H, W]; labels: [B] (long), each example\'s style. Returns [B, C, H, W]."""\n'
            "        ### BEGIN SOLUTION\n"
            "        x = torch.nn.functional.instance_norm(x, eps=1e-5)\n"
            "        return x * self.gamma[labels][:, :, None, None] + self.beta[labels][:, :, None, None]\n"
            "        ### END SOLUTION"
        ),
        "check": "from cinlab import exercises\n\nexercises.check_cin(MyCIN)",
    },
    "03": {
        "notebook": "03_gatys_optimization.ipynb",
        "after": 'print("with weights (64 / C)^2 the pastiche stays closer to the photo:"',
        "function": "style_loss_magenta",
        "statement": (
            "**Exercise 3 (code) — one style term, two conventions.** Write one layer's style term, one value per example,\n"
            "for the pastiche's feature maps `features` $[B, C, H, W]$ and the painting's `style_features` $[1, C, H', W']$\n"
            "(another size), with $G = F F^\\top / (HW)$, each Gram matrix divided by its own number of positions:\n"
            "\n"
            "- `style_loss_magenta`: the mean over the $C \\times C$ entries of $(G(F) - G(S))^2$ (magenta's code and cinlab);\n"
            "- `style_loss_paper`: the paper's Eq. 2 for one layer, $\\frac{1}{U}\\|G(F) - G(S)\\|_F^2$, with $U = C H W$ the\n"
            "  number of units of the pastiche's layer.\n"
            "\n"
            "Then work out the factor that converts one into the other: the checks below print nothing but a tick when both\n"
            "are right."
        ),
        "solution": (
            "def style_loss_magenta(features, style_features):\n"
            '    """[B, C, H, W] and [1, C, H\', W\'] -> [B]: mean over the C x C entries of (G(F) - G(S))^2."""\n'
            "    ### BEGIN SOLUTION\n"
            "    def gram(x):\n"
            "        b, c, h, w = x.shape\n"
            "        flat = x.reshape(b, c, h * w)\n"
            "        return flat @ flat.transpose(1, 2) / (h * w)\n"
            "\n"
            "    return (gram(features) - gram(style_features)).pow(2).mean((1, 2))\n"
            "    ### END SOLUTION\n"
            "\n"
            "\n"
            "def style_loss_paper(features, style_features):\n"
            '    """[B, C, H, W] and [1, C, H\', W\'] -> [B]: Eq. 2 for one layer, ||G(F) - G(S)||_F^2 / (C H W)."""\n'
            "    ### BEGIN SOLUTION\n"
            "    _, c, h, w = features.shape\n"
            "    return style_loss_magenta(features, style_features) * c * c / (c * h * w)\n"
            "    ### END SOLUTION"
        ),
        "check": (
            "from cinlab import exercises\n\n"
            'exercises.check_style_loss(style_loss_magenta, "magenta")\n'
            'exercises.check_style_loss(style_loss_paper, "paper")'
        ),
    },
    "04": {
        "notebook": "04_single_style_network.ipynb",
        "after": "**2. A total-variation loss.**",
        "function": "tv_loss",
        "statement": (
            "**2a. Write the total-variation loss.** For images $[B, C, H, W]$, one value per image: the mean absolute\n"
            "difference of vertically neighbouring pixels plus the mean absolute difference of horizontally neighbouring\n"
            "pixels (means rather than the sums above, so that the value does not grow with the image). The check compares\n"
            'it with `cinlab.losses.total_variation(images, reduction="none")`, which the training in 2b uses.'
        ),
        "solution": (
            "def tv_loss(images):\n"
            '    """images: [B, C, H, W] -> [B]: mean |vertical differences| + mean |horizontal differences| per image."""\n'
            "    ### BEGIN SOLUTION\n"
            "    vertical = (images[..., 1:, :] - images[..., :-1, :]).abs().flatten(1).mean(1)\n"
            "    horizontal = (images[..., :, 1:] - images[..., :, :-1]).abs().flatten(1).mean(1)\n"
            "    return vertical + horizontal\n"
            "    ### END SOLUTION"
        ),
        "check": "from cinlab import exercises\n\nexercises.check_total_variation(tv_loss)",
    },
    "05": {
        "notebook": "05_n_style_training_gpu.ipynb",
        "after": "Two lines make this *N*-style training",
        "function": "per_example_targets",
        "statement": (
            "**Exercise 0 (code) — each example's own targets.** `style_grams` holds each style's Gram targets,\n"
            "`{layer: [N, C, C]}`; `labels` $[B]$ says which style each example of the batch takes. Return the targets\n"
            "of the batch, `{layer: [B, C, C]}`, entry $b$ being the Gram matrix of style `labels[b]` at every layer: the\n"
            "second of the two lines above."
        ),
        "solution": (
            "def per_example_targets(style_grams, labels):\n"
            '    """{layer: [N, C, C]} and labels [B] -> {layer: [B, C, C]}, row b the targets of style labels[b]."""\n'
            "    ### BEGIN SOLUTION\n"
            "    return {layer: grams[labels] for layer, grams in style_grams.items()}\n"
            "    ### END SOLUTION"
        ),
        "check": "from cinlab import exercises\n\nexercises.check_gram_targets(per_example_targets)",
    },
    "06": {
        "notebook": "06_new_styles.ipynb",
        "after": "## What fine-tuning trains",
        "function": "parameters_to_train",
        "statement": (
            "**Exercise 0 (code) — train only the new row.** Before looking at how `add_styles` does it, write it:\n"
            "given a network whose tables already have the new row `new_label`, freeze everything else and return the\n"
            "parameters to give the optimiser. Remember that $\\gamma$ and $\\beta$ are whole tables $[N, C]$: training a table\n"
            "trains every row a batch uses. The check trains a small network with what you return, also on a batch that\n"
            "renders an old style, and looks for any number that moved but should not have."
        ),
        "solution": (
            "def parameters_to_train(model, new_label):\n"
            '    """Freeze all but the gamma and beta rows of style new_label; return the parameters to optimise."""\n'
            "    ### BEGIN SOLUTION\n"
            "    model.requires_grad_(False)\n"
            "    mask = torch.zeros(model.num_styles, 1)\n"
            "    mask[new_label] = 1.0\n"
            "    tables = model.style_parameters()\n"
            "    for table in tables:\n"
            "        table.requires_grad_(True)\n"
            "        table.register_hook(lambda grad: grad * mask.to(grad.device, grad.dtype))\n"
            "    return tables\n"
            "    ### END SOLUTION"
        ),
        "check": "from cinlab import exercises\n\nexercises.check_new_row_training(parameters_to_train)",
    },
    "07": {
        "notebook": "07_style_interpolation.ipynb",
        "after": "Exercise 4 finds out why.",
        "function": "mix_rows",
        "statement": (
            "**Exercise 0 (code) — mix two tables.** Write the mixture of styles for one layer: given its tables\n"
            "`gamma` and `beta` $[N, C]$ and weights $w$ $[N]$ (non-negative, summing to 1), return the mixture's rows\n"
            "$\\sum_i w_i \\gamma_i$ and $\\sum_i w_i \\beta_i$, $[C]$ each, the formula at the top of this notebook. The check\n"
            "compares them with what `ConditionalInstanceNorm2d` computes for the same mixture; the cells below mix styles\n"
            "with cinlab's own code."
        ),
        "solution": (
            "def mix_rows(gamma, beta, weights):\n"
            '    """gamma, beta: [N, C]; weights: [N] -> (gamma [C], beta [C]) of the mixture."""\n'
            "    ### BEGIN SOLUTION\n"
            "    return weights @ gamma, weights @ beta\n"
            "    ### END SOLUTION"
        ),
        "check": "from cinlab import exercises\n\nexercises.check_mixing(mix_rows)",
    },
}


def solution_metadata(key):
    return {
        "nbgrader": {
            "grade": False,
            "grade_id": f"nb{key}_{EXERCISES[key]['function']}",
            "locked": False,
            "schema_version": 3,
            "solution": True,
            "task": False,
        }
    }


def check_metadata(key):
    return {
        "nbgrader": {
            "grade": True,
            "grade_id": f"nb{key}_{EXERCISES[key]['function']}_check",
            "locked": True,
            "points": 1,
            "schema_version": 3,
            "solution": False,
            "task": False,
        }
    }


def exercise_cells(key):
    """The three cells of exercise ``key`` (statement, solution, check), as nbformat cells."""
    exercise = EXERCISES[key]
    return [
        nbformat.v4.new_markdown_cell(exercise["statement"]),
        nbformat.v4.new_code_cell(exercise["solution"], metadata=solution_metadata(key)),
        nbformat.v4.new_code_cell(exercise["check"], metadata=check_metadata(key)),
    ]


def insert_exercise(nb, key):
    """Insert exercise ``key`` after the first cell containing its anchor; returns the statement's index."""
    anchor = EXERCISES[key]["after"]
    for index, cell in enumerate(nb.cells):
        if anchor in cell.source:
            nb.cells[index + 1 : index + 1] = exercise_cells(key)
            return index + 1
    raise ValueError(f"notebook has no cell containing {anchor!r}")
