"""The one compiled part: the Redis reply decoder of the online read's fast path.

Everything else is configured in pyproject.toml. The extension is optional: where it cannot
be built (no C compiler), the install goes on and modelyard.features.online.redis.codec decodes in
Python, with the same answers.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "modelyard.features.online.redis._redis_rows",
            ["framework/modelyard/features/online/redis/_redis_rows.c"],
            optional=True,
        )
    ]
)
