/* SPDX-License-Identifier: Apache-2.0 */
/* The one version string every flowscope program reports with --version. */
#ifndef OB_COMMON_VERSION_H
#define OB_COMMON_VERSION_H

#define FLOWSCOPE_VERSION "0.1.0"

#endif
